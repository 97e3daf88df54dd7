package pdfverify_test

import (
	"testing"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

// TestWhatMayFollowTheSignature: the revisions real producers append
// after signing (validation data, metadata, extensions, restated free
// entries, orphans, document timestamps) pass; anything that rides along
// with them and could change what a viewer shows does not.
func TestWhatMayFollowTheSignature(t *testing.T) {
	w := getWorld(t)
	h := w.holders[testpki.RSA2048]
	xrefForm, err := testsign.Form(formValues, testsign.FormOptions{XRefStream: true})
	if err != nil {
		t.Fatal(err)
	}
	classic := mustSign(t, w.form, signWith(h))
	stream := mustSign(t, xrefForm, signWith(h))
	var chain [][]byte
	for _, c := range h.Chain {
		chain = append(chain, c.Raw)
	}
	ltv := func(o testsign.LTVOptions) func(t *testing.T, signed []byte) []byte {
		return func(t *testing.T, signed []byte) []byte {
			o.Certs = chain
			out, err := testsign.AddLTV(signed, o)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	stamp := func(f func(t *testing.T, signed []byte) []byte) func(t *testing.T, signed []byte) []byte {
		return func(t *testing.T, signed []byte) []byte {
			out, err := testsign.AddDocTimestamp(f(t, signed), w.timestamper(now))
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	dts := func(f func([]byte) ([]byte, error)) func(t *testing.T, signed []byte) []byte {
		return func(t *testing.T, signed []byte) []byte {
			out, err := f(signed)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	cases := []struct {
		name   string
		append func(t *testing.T, signed []byte) []byte
		sub    pdfverify.SubIndication
		check  string
	}{
		{"ok/dss-restating-the-free-head", ltv(testsign.LTVOptions{RestateFreeHead: true}), "", ""},
		{"ok/dss-and-xmp-rewritten-in-place", ltv(testsign.LTVOptions{RewriteMetadata: true}), "", ""},
		{"ok/dss-and-a-new-xmp-stream", ltv(testsign.LTVOptions{NewMetadata: true}), "", ""},
		{"ok/dss-and-extensions", ltv(testsign.LTVOptions{Extensions: true}), "", ""},
		{"ok/dss-and-a-new-info-dictionary", ltv(testsign.LTVOptions{Info: true}), "", ""},
		{"ok/dss-and-an-orphan-object", ltv(testsign.LTVOptions{Orphan: true}), "", ""},
		{"ok/all-of-it-then-a-document-timestamp", stamp(ltv(testsign.LTVOptions{RestateFreeHead: true, RewriteMetadata: true, Extensions: true, Info: true, Orphan: true})), "", ""},
		{"fail/xmp-rewritten-as-html", ltv(testsign.LTVOptions{RewriteMetadata: true, Metadata: []byte("<html><body>numero de serie: deadbeef</body></html>")}), pdfverify.ModifiedAfterSigning, "coverage"},
		{"fail/xmp-with-an-entity-declaration", ltv(testsign.LTVOptions{NewMetadata: true, Metadata: []byte(`<!DOCTYPE x [<!ENTITY e "deadbeef">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&e;</x:xmpmeta>`)}), pdfverify.ModifiedAfterSigning, "coverage"},
		{"fail/info-holding-a-dictionary", ltv(testsign.LTVOptions{Info: true, InfoValue: testsign.RawPDF("<< /S /JavaScript /JS (app.alert\\(1\\)) >>")}), pdfverify.ModifiedAfterSigning, "coverage"},
		{"fail/frees-a-signed-page", ltv(testsign.LTVOptions{Free: []int{3}}), pdfverify.ModifiedAfterSigning, "coverage"},
		{"fail/document-timestamp-widget-with-page-open-javascript", dts(func(b []byte) ([]byte, error) {
			return testsign.DocTimestampWithAction(b, w.timestamper(now), "AA")
		}), pdfverify.ModifiedAfterSigning, "document-timestamp"},
		{"fail/document-timestamp-widget-with-an-action", dts(func(b []byte) ([]byte, error) {
			return testsign.DocTimestampWithAction(b, w.timestamper(now), "A")
		}), pdfverify.ModifiedAfterSigning, "document-timestamp"},
		{"fail/document-timestamp-widget-that-draws", dts(func(b []byte) ([]byte, error) {
			return testsign.DocTimestampDrawing(b, w.timestamper(now), "Numero de serie: deadbeef")
		}), pdfverify.ModifiedAfterSigning, "document-timestamp"},
	}
	for _, form := range []struct {
		name   string
		signed []byte
	}{{"classic", classic}, {"xref-stream", stream}} {
		for _, tc := range cases {
			t.Run(form.name+"/"+tc.name, func(t *testing.T) {
				data := tc.append(t, form.signed)
				dumpForgery(t, "postsign-"+form.name+"-"+tc.name[len("ok/"):], form.signed, data)
				rep := verify(t, data, w.opts())
				if tc.sub == "" {
					if !rep.Accepted() {
						t.Fatalf("Verify = %s/%s (%s), want TOTAL_PASSED", rep.Indication, rep.SubIndication, rep.Reason)
					}
					if rep.Form["certificat_numero_serie"] != formValues["certificat_numero_serie"] {
						t.Errorf("serial = %q", rep.Form["certificat_numero_serie"])
					}
					return
				}
				if rep.Indication != pdfverify.TotalFailed || rep.SubIndication != tc.sub {
					t.Fatalf("Verify = %s/%s (%s), want TOTAL_FAILED/%s", rep.Indication, rep.SubIndication, rep.Reason, tc.sub)
				}
				if !hasCheck(rep, tc.check) {
					t.Errorf("no failed check %q in %+v", tc.check, rep.Checks)
				}
			})
		}
	}
}
