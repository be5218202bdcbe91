package qr

import "bytes"

// Data mask evaluation (ISO/IEC 18004:2015 §7.8.3.1, Table 11). The whole
// symbol is scored, function patterns and format and version information
// included. Where the standard's wording leaves a choice, this package reads
// it as zxing's MaskUtil does:
//
//   - N1: a run of k ≥ 5 same-coloured modules in a row or column scores
//     N1 + (k − 5).
//   - N2: every 2×2 block of same-coloured modules scores N2, so an m×n
//     block scores N2·(m − 1)·(n − 1).
//   - N3: every dark-light-dark-dark-dark-light-dark run (1:1:3:1:1 at one
//     module per unit) in a row or column with four light modules before
//     or after it scores N3 once; modules beyond the edge count as light,
//     since the quiet zone is.
//   - N4: with d dark modules out of t, the deviation from half dark in
//     whole 5 % steps, k = ⌊|2d − t|·10 / t⌋, scores N4·k.

// penalty returns the symbol's total score N1 + N2 + N3 + N4.
func (m *Matrix) penalty() int {
	runs, finders := 0, 0
	m.lines(func(line []byte) {
		runs += runPenalty(line)
		finders += finderPenalty(line)
	})
	return runs + m.blockPenalty() + finders + m.balancePenalty()
}

// lines calls f with every row, then every column, of the matrix.
func (m *Matrix) lines(f func(line []byte)) {
	n := m.size
	for y := range n {
		f(m.dark[y*n : (y+1)*n])
	}
	col := make([]byte, n)
	for x := range n {
		for y := range n {
			col[y] = m.dark[y*n+x]
		}
		f(col)
	}
}

// runPenalty is rule N1 for one row or column.
func runPenalty(line []byte) int {
	p, run := 0, 1
	for i := 1; i <= len(line); i++ {
		if i < len(line) && line[i] == line[i-1] {
			run++
			continue
		}
		if run >= 5 {
			p += penaltyN1 + run - 5
		}
		run = 1
	}
	return p
}

// blockPenalty is rule N2 over the whole matrix.
func (m *Matrix) blockPenalty() int {
	n, p := m.size, 0
	for y := range n - 1 {
		for x := range n - 1 {
			c := m.dark[y*n+x]
			if m.dark[y*n+x+1] == c && m.dark[(y+1)*n+x] == c && m.dark[(y+1)*n+x+1] == c {
				p += penaltyN2
			}
		}
	}
	return p
}

// finderPenalty is rule N3 for one row or column.
func finderPenalty(line []byte) int {
	p := 0
	for i := 0; i+7 <= len(line); i++ {
		w := line[i : i+7 : i+7]
		// 1:1:3:1:1, dark light dark dark dark light dark.
		if w[0] != 1 || w[1] != 0 || w[2] != 1 || w[3] != 1 || w[4] != 1 || w[5] != 0 || w[6] != 1 {
			continue
		}
		if allLight(line, i-4, i) || allLight(line, i+7, i+11) {
			p += penaltyN3
		}
	}
	return p
}

// allLight reports whether line has no dark module in [from, to); positions
// outside line are light.
func allLight(line []byte, from, to int) bool {
	for i := max(from, 0); i < min(to, len(line)); i++ {
		if line[i] == 1 {
			return false
		}
	}
	return true
}

// balancePenalty is rule N4.
func (m *Matrix) balancePenalty() int {
	dark := bytes.Count(m.dark, []byte{1})
	total := len(m.dark)
	dev := 2*dark - total
	if dev < 0 {
		dev = -dev
	}
	return dev * 10 / total * penaltyN4
}
