package lead

import "testing"

func BenchmarkParseApplyNormalize(b *testing.B) {
	body := fixture(b, "lead-vendor.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		v, err := Parse("application/json", body)
		if err != nil {
			b.Fatal(err)
		}
		f, errs := Normalize(Apply(v, nil), "US")
		if len(errs) != 0 || f.Phone != "+16266633444" {
			b.Fatal(errs)
		}
	}
}
