package seed

import "testing"

// BenchmarkGenerate measures the demo of 100,000 products, the largest a
// newcomer is likely to ask for.
func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		d := Generate(1, 100_000)
		if len(d.Products) != 100_000 {
			b.Fatal("short demo")
		}
	}
}
