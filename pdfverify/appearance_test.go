package pdfverify_test

import (
	"testing"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

// appearanceForgeries prepare a form whose field keeps its value while
// the page shows another; each is signed genuinely afterwards.
var appearanceForgeries = []struct {
	name  string
	forge func(form []byte, field, shown string) ([]byte, error)
}{
	{"appearance-draws-another-value", testsign.AppearanceShows},
	{"appearance-hides-the-value-and-draws-another-in-a-nested-form", testsign.AppearanceInNestedForm},
	{"widget-hidden-and-page-prints-another-value", testsign.HiddenFieldPageShows},
}

// TestAppearanceShowsTheValue: what revokd acts on (/V) must be what the
// signer saw (the widget's appearance), for the serial, the holder and
// the role.
func TestAppearanceShowsTheValue(t *testing.T) {
	w := getWorld(t)
	signer := signWith(w.holders[testpki.RSA2048])
	t.Run("ok/genuine-appearances", func(t *testing.T) {
		rep := verify(t, mustSign(t, w.form, signer), w.opts())
		if !rep.Accepted() {
			t.Fatalf("Verify = %s/%s (%s), want TOTAL_PASSED", rep.Indication, rep.SubIndication, rep.Reason)
		}
	})
	t.Run("ok/utf16-values", func(t *testing.T) {
		vals := map[string]string{}
		for k, v := range formValues {
			vals[k] = v
		}
		vals["titulaire_nom"] = "Dupont–Łukasiewicz" // outside PDFDocEncoding's Latin-1 part: a UTF-16 /V
		form, err := testsign.Form(vals, testsign.FormOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rep := verify(t, mustSign(t, form, signer), w.opts())
		// The appearance is WinAnsi: Ł cannot be drawn and becomes '?',
		// so the page does not show the value.
		if rep.Accepted() || !hasCheck(rep, "appearance") {
			t.Fatalf("Verify = %s/%s (%s), want the appearance check to fail on a character the font cannot draw", rep.Indication, rep.SubIndication, rep.Reason)
		}
	})
	for _, field := range []struct{ name, shown string }{
		{"certificat_numero_serie", "deadbeef"},
		{"titulaire_nom", "Martin"},
		{"demandeur_qualite", "Représentant légal"},
	} {
		for _, f := range appearanceForgeries {
			t.Run("fail/"+f.name+"/"+field.name, func(t *testing.T) {
				prepared, err := f.forge(w.form, field.name, field.shown)
				if err != nil {
					t.Fatal(err)
				}
				rep := verify(t, mustSign(t, prepared, signer), w.opts())
				if rep.Indication != pdfverify.TotalFailed || rep.SubIndication != pdfverify.FormatFailure {
					t.Fatalf("Verify = %s/%s (%s), want TOTAL_FAILED/FORMAT_FAILURE", rep.Indication, rep.SubIndication, rep.Reason)
				}
				if !hasCheck(rep, "appearance") {
					t.Errorf("no failed check appearance in %+v", rep.Checks)
				}
			})
		}
	}
}
