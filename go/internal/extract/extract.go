// Package extract reads CUE values for the caller: lookups by path,
// fields and elements, decoding to the JSON the Python side reads,
// export as JSON, YAML or CUE text, validation, comparison and source
// positions. Package main resolves the handles and translates the C
// option bits into Options.
package extract

import "cuelang.org/go/cue"

// Options are the switches of an export, a validation or a listing of
// fields (cuepy.h's CUE_OPT_* bits).
type Options struct {
	// Definitions, Hidden and Optional show those fields.
	Definitions, Hidden, Optional bool
	Concrete, Final, AllErrors    bool
	Docs, Attributes              bool
	// Indent asks for indented output, IndentWidth spaces wide (0: the
	// format's default width).
	Indent      bool
	IndentWidth int
}

// indentWidth is the indent the options ask for: 0 for none, else spaces,
// def when the width is not given.
func (o Options) indentWidth(def int) int {
	if !o.Indent {
		return 0
	}
	if o.IndentWidth > 0 {
		return o.IndentWidth
	}
	return def
}

func (o Options) fieldOptions() []cue.Option {
	// Hidden comes first: cue.Hidden also sets whether definitions show.
	return []cue.Option{
		cue.Hidden(o.Hidden),
		cue.Definitions(o.Definitions),
		cue.Optional(o.Optional),
	}
}
