package cades

import (
	"bytes"
	"strings"
	"testing"
)

func TestToDER(t *testing.T) {
	deep := func(n int) []byte {
		return append(bytes.Repeat([]byte{0x30, 0x80}, n), bytes.Repeat([]byte{0, 0}, n)...)
	}
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr string
	}{
		{name: "ok/der-unchanged", in: []byte{0x30, 0x03, 0x02, 0x01, 0x05}, want: []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{name: "ok/indefinite", in: []byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00}, want: []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{name: "ok/nested-indefinite", in: []byte{0x30, 0x80, 0x31, 0x80, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00}, want: []byte{0x30, 0x04, 0x31, 0x02, 0x05, 0x00}},
		{name: "ok/non-minimal-length", in: []byte{0x04, 0x81, 0x02, 0xaa, 0xbb}, want: []byte{0x04, 0x02, 0xaa, 0xbb}},
		{name: "ok/leading-zero-length", in: []byte{0x30, 0x82, 0x00, 0x03, 0x02, 0x01, 0x05}, want: []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{
			name: "ok/segmented-octet-string",
			in:   []byte{0x24, 0x80, 0x04, 0x02, 'a', 'b', 0x24, 0x80, 0x04, 0x01, 'c', 0x00, 0x00, 0x04, 0x00, 0x00, 0x00},
			want: []byte{0x04, 0x03, 'a', 'b', 'c'},
		},
		{name: "ok/definite-segmented-octet-string", in: []byte{0x24, 0x06, 0x04, 0x01, 'a', 0x04, 0x01, 'b'}, want: []byte{0x04, 0x02, 'a', 'b'}},
		{name: "ok/high-tag-number", in: []byte{0xbf, 0x81, 0x00, 0x80, 0x05, 0x00, 0x00, 0x00}, want: []byte{0xbf, 0x81, 0x00, 0x02, 0x05, 0x00}},
		{name: "ok/long-content", in: append([]byte{0x30, 0x80, 0x04, 0x81, 0xc8}, append(make([]byte, 200), 0, 0)...), want: append([]byte{0x30, 0x81, 0xcb, 0x04, 0x81, 0xc8}, make([]byte, 200)...)},
		{name: "ok/max-nesting", in: deep(maxNesting + 1), want: deepDER(maxNesting + 1)},

		{name: "fail/empty", in: nil, wantErr: "truncated"},
		{name: "fail/truncated-header", in: []byte{0x30}, wantErr: "truncated"},
		{name: "fail/length-past-end", in: []byte{0x30, 0x05, 0x02, 0x01}, wantErr: "exceeds"},
		{name: "fail/indefinite-primitive", in: []byte{0x04, 0x80, 0x00, 0x00}, wantErr: "primitive"},
		{name: "fail/missing-end-of-contents", in: []byte{0x30, 0x80, 0x02, 0x01, 0x05}, wantErr: "end-of-contents"},
		{name: "fail/reserved-length", in: []byte{0x04, 0xff, 0x00}, wantErr: "reserved"},
		{name: "fail/length-too-long", in: []byte{0x04, 0x85, 1, 1, 1, 1, 1}, wantErr: "too long"},
		{name: "fail/tag-too-long", in: []byte{0x1f, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00}, wantErr: "tag number"},
		{name: "fail/child-past-parent", in: []byte{0x30, 0x02, 0x04, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05}, wantErr: "exceeds"},
		{name: "fail/segment-not-octet-string", in: []byte{0x24, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00}, wantErr: "segment"},
		{name: "fail/too-deep", in: deep(maxNesting + 2), wantErr: "nested"},
		{name: "fail/very-deep", in: deep(100_000), wantErr: "nested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest, err := toDER(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("toDER(% x) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("toDER(% x) = %v", tt.in, err)
			}
			if len(rest) != 0 {
				t.Errorf("toDER(% x) rest = % x, want none", tt.in, rest)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("toDER(% x) = % x, want % x", tt.in, got, tt.want)
			}
		})
	}
}

func deepDER(n int) []byte {
	out := []byte{}
	for range n {
		out = appendElement(nil, []byte{0x30}, out)
	}
	return out
}

func TestToDERRoundTrip(t *testing.T) {
	for _, sample := range samples(t) {
		der, rest, err := toDER(sample)
		if err != nil || len(rest) != 0 {
			t.Fatalf("toDER(DER sample) = %v, rest %d", err, len(rest))
		}
		if &der[0] != &sample[0] || len(der) != len(sample) {
			t.Errorf("toDER(DER sample) copied its input, want it returned as is")
		}
		ber := toBER(t, sample)
		if bytes.Equal(ber, sample) {
			t.Fatal("toBER(sample) changed nothing")
		}
		back, rest, err := toDER(ber)
		if err != nil || len(rest) != 0 {
			t.Fatalf("toDER(BER sample) = %v, rest %d", err, len(rest))
		}
		if !bytes.Equal(back, sample) {
			t.Errorf("toDER(toBER(sample)) differs from sample")
		}
	}
}

// BenchmarkToDERFlatIndefinite converts the input that takes
// go.mozilla.org/pkcs7's converter quadratic time: one indefinite-length
// SEQUENCE holding many small elements.
func BenchmarkToDERFlatIndefinite(b *testing.B) {
	in := []byte{0x30, 0x80}
	for range 1 << 20 / 3 {
		in = append(in, 0x04, 0x01, 0x01)
	}
	in = append(in, 0, 0)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := toDER(in); err != nil {
			b.Fatal(err)
		}
	}
}
