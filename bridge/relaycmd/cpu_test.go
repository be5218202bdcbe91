package relaycmd_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuMeter adds up the CPU time (user and system) of this process, of the
// relay processes and of a PostgreSQL cluster (its postmaster, its live
// children and the children it has reaped), so a benchmark can report CPU
// time per operation: a figure other load on the machine barely changes,
// unlike operations per second. Linux only (/proc); elsewhere it reads 0.
type cpuMeter struct {
	relays []int
	pg     int // postmaster pid, 0 for none
}

// clockTick is the unit of /proc/<pid>/stat times (USER_HZ).
const clockTick = 10 * time.Millisecond

// procTimes returns utime+stime and cutime+cstime of pid.
func procTimes(pid int) (own, children time.Duration, ppid int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, 0
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, 0, 0
	}
	n := func(k int) time.Duration {
		v, _ := strconv.ParseInt(f[k-3], 10, 64)
		return time.Duration(v) * clockTick
	}
	pp, _ := strconv.Atoi(f[1])
	return n(14) + n(15), n(16) + n(17), pp
}

// sample returns the CPU time used so far: this process, the relays, and
// PostgreSQL (split out).
func (m *cpuMeter) sample() (total, pg time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, pid := range m.relays {
		own, _, _ := procTimes(pid)
		total += own
	}
	if m.pg != 0 {
		own, reaped, _ := procTimes(m.pg)
		pg = own + reaped
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			pid, err := strconv.Atoi(filepath.Base(d))
			if err != nil || pid == m.pg {
				continue
			}
			if own, _, ppid := procTimes(pid); ppid == m.pg {
				pg += own
			}
		}
	}
	return total + pg, pg
}
