package pdfverify

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// internalError records a panic recovered while verifying: a bug of the
// verifier, which says nothing about the file. The report is
// INDETERMINATE/INTERNAL_ERROR whatever was decided before, so that no
// caller reads a verifier bug as the sender's forgery (or as a pass), and
// the stack goes to the log at ERROR for the engineers.
func (v *verification) internalError(p any) {
	v.o.Logger.Error("pdfverify: internal error while verifying a file",
		slog.String("panic", fmt.Sprint(p)),
		slog.Int("size", len(v.data)),
		slog.String("stack", string(debug.Stack())))
	detail := fmt.Sprintf("the verifier failed on this file (internal error: %v); this is a fault of revokd, not of the file", p)
	v.check(Check{Name: "internal-error", Outcome: Unknown, SubIndication: InternalError, Detail: detail})
	v.failed = true
	v.report.Indication = Indeterminate
	v.report.SubIndication = InternalError
	v.report.Reason = detail
}
