package schemas

import "testing"

func TestParseLSN_RoundTrips(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want LSN
	}{
		{"0/0", 0},
		{"0/3000148", 0x3000148},
		{"16/B374D848", 0x16_B374D848},
		{"FFFFFFFF/FFFFFFFF", ^LSN(0)},
	} {
		got, err := ParseLSN(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseLSN(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("LSN(%#x).String() = %q, want %q", uint64(got), got.String(), tc.in)
		}
	}
}

func TestParseLSN_RejectsMalformed(t *testing.T) {
	for _, in := range []string{"", "0", "0/", "/0", "g/0", "0/1/2", "100000000/0"} {
		if _, err := ParseLSN(in); err == nil {
			t.Errorf("ParseLSN(%q) succeeded, want an error", in)
		}
	}
}

func FuzzParseLSN(f *testing.F) {
	for _, s := range []string{"0/0", "16/B374D848", "x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLSN(s)
		if err != nil {
			return
		}
		again, err := ParseLSN(l.String())
		if err != nil || again != l {
			t.Fatalf("%q parsed to %v, which reparses to %v, %v", s, l, again, err)
		}
	})
}
