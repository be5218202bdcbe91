//go:build !race

package invite

const raceEnabled = false
