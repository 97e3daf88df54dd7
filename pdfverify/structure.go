package pdfverify

// checkStructure refuses a file that readers can read as different
// documents (pdfread.Ambiguity): whatever revokd reads from it, the
// signer's viewer may have shown something else. The failing check is
// named after the ambiguity, "structure.hidden-object" for example.
func (v *verification) checkStructure() bool {
	a, err := v.file.Ambiguity()
	if err != nil {
		v.docFail("structure", FormatFailure, "the PDF structure is invalid: "+err.Error())
		return false
	}
	if a != nil {
		v.docFail("structure."+a.Kind, FormatFailure, "the PDF structure is ambiguous: "+a.Detail)
		return false
	}
	return true
}
