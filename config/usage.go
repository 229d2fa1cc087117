package config

import (
	"fmt"
	"io"
	"reflect"
	"text/tabwriter"
)

// Usage writes one line per environment variable of cfg's type (a
// configuration struct, a struct made of them, or a pointer to either): the
// variable's name, its default and its description, in aligned columns and
// in declaration order. It reads only the type's tags, never cfg's values: a
// secret variable shows "(secret)" in place of a default, a variable
// without a default shows "(none)" and one whose default is empty shows
// "(unset)". Binaries print it for --help.
func Usage(w io.Writer, cfg any) {
	t := reflect.TypeOf(cfg)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	writeUsage(tw, t)
	_ = tw.Flush() // Usage goes to a terminal; a failed write has no one to tell
}

func writeUsage(w io.Writer, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := varName(f)
		if name == "" {
			if f.Type.Kind() == reflect.Struct {
				writeUsage(w, f.Type)
			}
			continue
		}
		def, ok := defaultOf(f)
		switch {
		case f.Tag.Get(tagSecret) == "true":
			def = "(secret)"
		case !ok:
			def = "(none)"
		case def == "":
			def = "(unset)"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\n", name, def, f.Tag.Get(tagHelp))
	}
}
