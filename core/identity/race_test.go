//go:build race

package identity_test

// raceEnabled makes the long bit-flip property tests sample bits, as under
// js/wasm: the race detector slows signature checks by an order of magnitude.
const raceEnabled = true
