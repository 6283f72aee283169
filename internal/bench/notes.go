package bench

// The notes beside the rows: how a figure was taken and, where a target
// is not met, what holds it back and what was tried. They are kept here,
// beside the code that measures, so the generated page and the code agree.

func overheadNote(nodes int) string {
	return ""
}

func recoveryNote(multiplier float64) string {
	return ""
}

func scaleNote() string {
	return ""
}
