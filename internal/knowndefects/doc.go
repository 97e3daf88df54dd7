// Package knowndefects holds tests, and nothing else, that reproduce what
// was found when the PDF libraries revokd could have used were tried on
// forged files: why the decision is built on pdfverify instead. A test
// here fails when a new version of a library fixes its defect, which is
// the moment to look at it again.
package knowndefects
