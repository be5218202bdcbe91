//go:build !race

package handshake_test

const raceEnabled = false
