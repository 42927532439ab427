package cueerr

import "strings"

// Sequence is errors the cue command prints one after another, each as a
// whole (sorted and deduplicated within itself only): `cue vet` prints the
// errors of each data document in turn. NewReport keeps that order.
type Sequence []error

func (s Sequence) Error() string {
	parts := make([]string, len(s))
	for i, e := range s {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Then is the sequence with err last, as an error.
func (s Sequence) Then(err error) error {
	return append(s, err).Err()
}

// Err is the sequence as one error: nil when empty, the error itself when
// there is one; else of category Eval if any error is, Incomplete if all are.
func (s Sequence) Err() error {
	switch len(s) {
	case 0:
		return nil
	case 1:
		return s[0]
	}
	category := Incomplete
	for _, e := range s {
		if categoryOf(e) != Incomplete {
			category = Eval
		}
	}
	return &categorized{category: category, err: s}
}
