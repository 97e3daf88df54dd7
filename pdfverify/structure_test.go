package pdfverify_test

import (
	"testing"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/pdfverify/internal/pdfread"
)

// TestRejectsAmbiguousStructure signs forms prepared so that the signed
// revision reads as two documents; each must be refused as a
// FORMAT_FAILURE naming the ambiguity, although the signature itself is
// genuine.
func TestRejectsAmbiguousStructure(t *testing.T) {
	w := getWorld(t)
	xrefForm, err := testsign.Form(formValues, testsign.FormOptions{XRefStream: true})
	if err != nil {
		t.Fatal(err)
	}
	const serial, forged = "certificat_numero_serie", "deadbeef"
	cases := []struct {
		name  string
		form  []byte
		forge func([]byte, string, string) ([]byte, error)
		check string
	}{
		{"fail/hybrid-xrefstm-hides-a-field-the-table-lists", w.form, testsign.HideFieldInXRefStm, "structure.hidden-object"},
		{"fail/field-defined-twice-in-one-body", w.form, testsign.DuplicateFieldObject, "structure.stray-object"},
		{"fail/object-stream-holds-the-field-twice", xrefForm, testsign.ObjectStreamTwice, "structure.object-stream"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prepared, err := tc.forge(tc.form, serial, forged)
			if err != nil {
				t.Fatal(err)
			}
			// The forgery works: a reader following the cross-reference
			// as revokd does reads the new value.
			f, err := pdfread.Open(prepared, pdfread.Limits{})
			if err != nil {
				t.Fatalf("Open(prepared): %v", err)
			}
			fields, err := f.Fields()
			if err != nil {
				t.Fatal(err)
			}
			for _, fl := range fields {
				if fl.Name == serial {
					if s, _ := fl.Value.(pdfread.String); pdfread.TextString(s) != forged {
						t.Fatalf("prepared form: %s = %q, want %q", serial, s, forged)
					}
				}
			}
			signed := mustSign(t, prepared, signWith(w.holders[testpki.RSA2048]))
			dumpForgery(t, "ambiguous-"+tc.check, tc.form, signed)
			rep := verify(t, signed, w.opts())
			if rep.Indication != pdfverify.TotalFailed || rep.SubIndication != pdfverify.FormatFailure {
				t.Fatalf("Verify = %s/%s (%s), want TOTAL_FAILED/FORMAT_FAILURE", rep.Indication, rep.SubIndication, rep.Reason)
			}
			if !hasCheck(rep, tc.check) {
				t.Errorf("no failed check %q in %+v", tc.check, rep.Checks)
			}
		})
	}
}
