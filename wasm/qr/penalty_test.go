package qr

import (
	"strings"
	"testing"
)

// line parses "1"/"0" characters (spaces ignored) into modules.
func line(s string) []byte {
	s = strings.ReplaceAll(s, " ", "")
	b := make([]byte, len(s))
	for i := range s {
		b[i] = s[i] - '0'
	}
	return b
}

// matrix builds a square Matrix from rows of "1"/"0".
func matrix(rows ...string) *Matrix {
	m := &Matrix{size: len(rows)}
	for _, r := range rows {
		m.dark = append(m.dark, line(r)...)
	}
	return m
}

// TestRunPenalty: rule N1, a run of k ≥ 5 scores 3 + (k − 5), in either
// colour, at either end of the line.
func TestRunPenalty(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		want int
	}{
		{"0101010101", 0},
		{"1111 0101", 0},         // run of 4: free
		{"11111 0101", 3},        // run of 5 at the start
		{"0101 00000", 3},        // run of 5 at the end, light
		{"111111 0", 4},          // run of 6
		{"1111111111", 8},        // run of 10
		{"11111 00000 11111", 9}, // three runs of 5
		{"0 1111111 000000", 9},  // runs of 7 (3+2) and 6 (3+1)
	} {
		if got := runPenalty(line(tc.line)); got != tc.want {
			t.Errorf("runPenalty(%q) = %d, want %d", tc.line, got, tc.want)
		}
	}
}

// TestFinderPenalty: rule N3 counts 1011101 with four light modules on at
// least one side, the quiet zone beyond either edge being light.
func TestFinderPenalty(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		want int
	}{
		{"0000 1011101 0000", 40},    // light both sides: once
		{"0000 1011101 1111", 40},    // light before
		{"1111 1011101 0000", 40},    // light after
		{"1000 1011101 0001", 0},     // three light on each side: no
		{"1011101", 40},              // quiet zone on both sides
		{"1011101 1", 40},            // quiet zone before
		{"11 1011101 00", 40},        // two light then the quiet zone after
		{"11 1011101 01", 0},         // dark within four after, dark before
		{"1011101 0000 1011101", 80}, // two patterns sharing the light gap
		{"0000 10111101 0000", 0},    // 1:1:4:1:1 is not the pattern
		{"0000 0100010 0000", 0},     // inverted colours are not the pattern
		{"1111 1011101 0001 111", 0}, // dark at distance 4 after, dark before
		{"0000 1011101 0000 00", 40}, // longer line
		{"10 0000 1011101 11 1", 40}, // light run before
		{"11 0000 1011101 0000", 40}, // light run both
		{"1 000 1011101 000 1", 0},   // three light each side
		{"0000 1011101 0000 1011101", 80},
	} {
		if got := finderPenalty(line(tc.line)); got != tc.want {
			t.Errorf("finderPenalty(%q) = %d, want %d", tc.line, got, tc.want)
		}
	}
}

// TestBlockPenalty: rule N2, N2 per 2×2 same-coloured block, so an m×n
// block scores N2·(m−1)·(n−1).
func TestBlockPenalty(t *testing.T) {
	t.Parallel()
	checker := matrix("010", "101", "010")
	if got := checker.blockPenalty(); got != 0 {
		t.Errorf("checkerboard: %d, want 0", got)
	}
	solid := matrix("111", "111", "111") // one 3×3 block: 4 blocks of 2×2
	if got := solid.blockPenalty(); got != 4*penaltyN2 {
		t.Errorf("3×3 dark: %d, want %d", got, 4*penaltyN2)
	}
	mixed := matrix("1100", "1100", "0011", "0011") // two dark 2×2, two light 2×2 (corners), none across
	if got := mixed.blockPenalty(); got != 4*penaltyN2 {
		t.Errorf("mixed: %d, want %d", got, 4*penaltyN2)
	}
}

// TestBalancePenalty: rule N4, N4 per whole 5 % step away from half dark.
func TestBalancePenalty(t *testing.T) {
	t.Parallel()
	rows := func(dark, n int) *Matrix {
		m := &Matrix{size: n, dark: make([]byte, n*n)}
		for i := range dark {
			m.dark[i] = 1
		}
		return m
	}
	for _, tc := range []struct {
		dark, n, want int
	}{
		{50, 10, 0},    // 50 %
		{54, 10, 0},    // 54 %: under one step
		{55, 10, 10},   // 55 %: one step
		{45, 10, 10},   // 45 %: one step the other way
		{44, 10, 10},   // 44 %
		{40, 10, 20},   // 40 %
		{100, 10, 100}, // all dark
		{0, 10, 100},   // all light
		{221, 21, 0},   // 221/441 ≈ 50.1 %
	} {
		if got := rows(tc.dark, tc.n).balancePenalty(); got != tc.want {
			t.Errorf("%d of %d dark: %d, want %d", tc.dark, tc.n*tc.n, got, tc.want)
		}
	}
}

// TestPenaltyTotal: the total is the sum of the four rules, over rows and
// columns, on a matrix small enough to score by hand.
func TestPenaltyTotal(t *testing.T) {
	t.Parallel()
	m := matrix(
		"11111",
		"10001",
		"10101",
		"10001",
		"11111",
	)
	// N1: rows 0 and 4 and columns 0 and 4 are runs of 5: 4 × 3.
	// N2: no 2×2 block is one colour.
	// N3: no 1011101 fits in 5 modules.
	// N4: 17 dark of 25: |34 − 25|·10/25 = 3 steps: 30.
	if got, want := m.penalty(), 4*penaltyN1+30; got != want {
		t.Errorf("penalty = %d, want %d", got, want)
	}
}
