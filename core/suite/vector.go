package suite

import "bytes"

// resetVectorState works around a performance trap, not a correctness
// issue. KNOWN GAP (circl v1.6.5): circl's AVX2 ML-KEM assembly returns
// without VZEROUPPER, leaving the upper halves of the YMM registers dirty.
// Until something clears them, every SSE instruction pays a transition
// penalty, and SHA-256 (SHA-NI/SSE) and ChaCha20-Poly1305 run many times
// slower (a 4 µs transcript hash measured 350 µs here). bytes.IndexByte on
// 64 bytes takes Go's AVX2 path, which ends with VZEROUPPER. Every suite
// function that calls into circl's ML-KEM calls this before returning; on
// other architectures it costs a few nanoseconds. Remove it once circl
// clears the state itself (BenchmarkHashAfterDecaps measures the trap).
func resetVectorState() {
	var z [64]byte
	_ = bytes.IndexByte(z[:], 1)
}
