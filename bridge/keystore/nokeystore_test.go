package keystore

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const probeHelperEnv = "PARLEY_KEYSTORE_PROBE_HELPER"

type probeReport struct {
	ProbeNoKeystore  bool   `json:"probe_no_keystore"`
	ProbeErr         string `json:"probe_err"`
	CreateNoKeystore bool   `json:"create_no_keystore"`
	ConfigWritten    bool   `json:"config_written"`
}

// TestProbeHelper runs in a subprocess with a doctored environment (godbus
// caches its session bus connection per process, so each environment needs
// a process of its own). It reports what Probe and CreateOS did as JSON.
func TestProbeHelper(t *testing.T) {
	if os.Getenv(probeHelperEnv) != "1" {
		t.Skip("subprocess helper")
	}
	var r probeReport
	err := Probe()
	r.ProbeNoKeystore = errors.Is(err, ErrNoKeystore)
	if err != nil {
		r.ProbeErr = err.Error()
	}
	dir, derr := os.MkdirTemp("", "parley-probe")
	if derr != nil {
		t.Fatal(derr)
	}
	defer os.RemoveAll(dir)
	_, err = CreateOS(dir, nil)
	r.CreateNoKeystore = errors.Is(err, ErrNoKeystore)
	_, serr := os.Stat(filepath.Join(dir, ConfigFile))
	r.ConfigWritten = serr == nil
	b, _ := json.Marshal(r)
	fmt.Println("REPORT " + string(b))
}

func runProbeHelper(t *testing.T, env []string) probeReport {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProbeHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(env, probeHelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if j, ok := strings.CutPrefix(line, "REPORT "); ok {
			var r probeReport
			if err := json.Unmarshal([]byte(j), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("helper printed no report:\n%s", out)
	return probeReport{}
}

// isolatedEnv is an environment with no session bus to find: no
// DBUS_SESSION_BUS_ADDRESS, an empty XDG_RUNTIME_DIR (no "bus" socket), no
// DISPLAY, and a PATH without dbus-launch.
func isolatedEnv(t *testing.T) []string {
	tmp := t.TempDir()
	for _, d := range []string{"home", "run", "bin"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return []string{
		"HOME=" + filepath.Join(tmp, "home"),
		"XDG_RUNTIME_DIR=" + filepath.Join(tmp, "run"),
		"PATH=" + filepath.Join(tmp, "bin"),
		"TMPDIR=" + tmp,
	}
}

// Where no keystore can be reached, Probe and CreateOS say ErrNoKeystore with
// the reason, and no config is written: the user must choose a passphrase.
func TestNoKeystore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		env    func(t *testing.T) []string
		reason string
	}{
		{"no session bus, no dbus-launch", isolatedEnv, `exec: "dbus-launch": executable file not found`},
		{"bus address names a missing socket", func(t *testing.T) []string {
			e := isolatedEnv(t)
			return append(e, "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(t.TempDir(), "gone"))
		}, "no such file or directory"},
		{"bus disabled, as headless Chromium starts the host", func(t *testing.T) []string {
			return append(isolatedEnv(t), "DBUS_SESSION_BUS_ADDRESS=disabled:")
		}, "dbus: invalid bus address"},
		{"bus without a secrets service", func(t *testing.T) []string {
			return append(isolatedEnv(t), "DBUS_SESSION_BUS_ADDRESS="+privateBus(t))
		}, "was not provided by any .service files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runProbeHelper(t, tt.env(t))
			if !r.ProbeNoKeystore || !strings.Contains(r.ProbeErr, tt.reason) {
				t.Errorf("Probe: %q (ErrNoKeystore=%v), want ErrNoKeystore mentioning %q", r.ProbeErr, r.ProbeNoKeystore, tt.reason)
			}
			if !strings.HasPrefix(r.ProbeErr, ErrNoKeystore.Error()) || !strings.Contains(r.ProbeErr, "passphrase") {
				t.Errorf("message %q should start with %q and point to a passphrase", r.ProbeErr, ErrNoKeystore)
			}
			if !r.CreateNoKeystore {
				t.Error("CreateOS did not report ErrNoKeystore")
			}
			if r.ConfigWritten {
				t.Error("CreateOS wrote a config although the keystore failed")
			}
		})
	}
}

// privateBus starts a dbus-daemon that knows no services and returns its
// address; it stops with the test.
func privateBus(t *testing.T) string {
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("dbus-daemon not installed: %v", err)
		}
		t.Skip("dbus-daemon not installed")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	err = os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--print-address")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case addr := <-line:
		if addr == "" {
			t.Fatal("dbus-daemon printed no address")
		}
		return addr
	case <-time.After(20 * time.Second):
		t.Fatal("dbus-daemon did not start")
		return ""
	}
}
