package job

import (
	"fmt"
	"strings"
	"testing"
)

func TestPacker(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		tokens int
		items  [][]string // texts per item
		want   []int      // texts per batch
	}{
		{"by size", 3, 1000, [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}}, []int{3, 2}},
		{"by tokens", 10, 4, [][]string{{"abc"}, {"abcdef"}, {"abcdefghi"}, {"a"}}, []int{2, 2}},
		{"an item of several texts stays whole", 3, 1000, [][]string{{"a"}, {"b"}, {"c", "d"}, {"e"}}, []int{2, 3}},
		{"an item larger than the size gets a batch", 2, 1000, [][]string{{"a"}, {"b", "c", "d"}, {"e"}}, []int{1, 3, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPacker(tt.size, tt.tokens)
			var got []int
			for i, texts := range tt.items {
				loc, closed := p.add(Item{ID: fmt.Sprint(i), Texts: texts})
				if closed != nil {
					got = append(got, len(closed.Texts))
				}
				if back := p.loc(p.number(loc)); back != loc {
					t.Errorf("item %d at %+v comes back as %+v", i, loc, back)
				}
			}
			if b := p.close(); b != nil {
				got = append(got, len(b.Texts))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("batches of %v texts, want %v", got, tt.want)
			}
		})
	}
}

func TestPackerCountsAndDups(t *testing.T) {
	p := newPacker(10, 1000)
	first, _ := p.add(Item{ID: "x", Texts: []string{"a"}})
	p.dup("x2", first)
	p.add(Item{ID: "y", Texts: []string{"b", "c"}})
	p.dup("y2", Loc{Batch: 0, Item: 1})
	b := p.close()
	if fmt.Sprint(b.Counts) != "[1 2]" || strings.Join(b.IDs, ",") != "x,y,y" || b.Items != 2 {
		t.Errorf("batch %+v", b)
	}
	if len(b.Dups) != 2 || b.Dups[0] != (Dup{Pos: 1, ID: "x2", Of: first}) || b.Dups[1].Pos != 2 {
		t.Errorf("dups %+v", b.Dups)
	}
}

func TestTable(t *testing.T) {
	tb := newTable(10, true)
	for i := range uint32(5000) { // grows past its size
		if !tb.put(uint64(i)*0x9e3779b97f4a7c15, i) {
			t.Fatalf("key %d not new", i)
		}
	}
	for i := range uint32(5000) {
		if v, ok := tb.get(uint64(i) * 0x9e3779b97f4a7c15); !ok || v != i {
			t.Fatalf("get %d = %d, %v", i, v, ok)
		}
	}
	if _, ok := tb.get(12345); ok {
		t.Error("found a key never put")
	}
	set := newTable(2, false)
	if !set.put(0, 0) || set.put(0, 0) {
		t.Error("key 0: first put not new, or second put new")
	}
}
