//go:build race

package invite

// raceEnabled makes the bit-flip test sample bits, as under js/wasm: the race
// detector slows signature checks by an order of magnitude.
const raceEnabled = true
