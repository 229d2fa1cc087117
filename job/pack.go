package job

import (
	"sort"

	"github.com/llmq/llmq/tasks"
)

// Loc is where an item's result is: its batch and its place among the
// batch's items.
type Loc struct {
	Batch int `json:"b"`
	Item  int `json:"i"`
}

func (l Loc) valid(batches int) bool { return l.Batch >= 0 && l.Batch < batches && l.Item >= 0 }

// Dup is an item whose texts an earlier item of the job already has: it
// is not embedded again, and the export copies the earlier item's result.
type Dup struct {
	// Pos is the number of the batch's own items before it in input order.
	Pos int `json:"p"`
	// ID is the duplicate item's id.
	ID string `json:"id"`
	// Of is where the first item with the same texts is.
	Of Loc `json:"of"`
}

// Batch is one task of a job: up to the batch size of texts, within the
// token limit per request, and the duplicates that fall among its items.
type Batch struct {
	Seq    int
	Texts  []string
	IDs    []string // one per text: the item's id
	Counts []int    // texts per item, or nil when each item has one
	Items  int
	Dups   []Dup
	// Generate is the request of a generation job's batch, which holds
	// one item (IDs holds its id).
	Generate *tasks.GeneratePayload
	tokens   int
}

// packer cuts a stream of items into batches, in input order.
type packer struct {
	size   int // most texts per batch
	tokens int // most estimated tokens per batch
	next   int // sequence number of the open batch
	open   *Batch
	// unique counts the items added; starts holds, per batch, the count
	// when it opened, so that an item's number finds its Loc.
	unique uint32
	starts []uint32
}

func newPacker(size, tokens int) *packer {
	return &packer{size: size, tokens: tokens}
}

// add puts it into the open batch and returns its location, and the batch
// that it closed, if it did not fit there.
func (p *packer) add(it Item) (Loc, *Batch) {
	n := 0
	for _, t := range it.Texts {
		n += tasks.EstimateTokens(t)
	}
	var closed *Batch
	if b := p.open; b != nil && b.Items > 0 &&
		(len(b.Texts)+len(it.Texts) > p.size || b.tokens+n > p.tokens || it.Generate != nil) {
		closed = p.close()
	}
	if p.open == nil {
		p.open = &Batch{Seq: p.next}
		p.next++
		p.starts = append(p.starts, p.unique)
	}
	b := p.open
	if len(it.Texts) > 1 && b.Counts == nil {
		b.Counts = make([]int, b.Items, b.Items+1)
		for i := range b.Counts {
			b.Counts[i] = 1
		}
	}
	if b.Counts != nil {
		b.Counts = append(b.Counts, len(it.Texts))
	}
	for _, t := range it.Texts {
		b.Texts = append(b.Texts, t)
		b.IDs = append(b.IDs, it.ID)
	}
	if it.Generate != nil {
		b.Generate = it.Generate
		b.IDs = append(b.IDs, it.ID)
	}
	b.tokens += n
	loc := Loc{Batch: b.Seq, Item: b.Items}
	b.Items++
	p.unique++
	return loc, closed
}

// number returns the number of the item at loc, counted from 0 in the
// order add saw them.
func (p *packer) number(loc Loc) uint32 { return p.starts[loc.Batch] + uint32(loc.Item) }

// loc returns the location of the item of the given number.
func (p *packer) loc(n uint32) Loc {
	b := sort.Search(len(p.starts), func(i int) bool { return p.starts[i] > n }) - 1
	return Loc{Batch: b, Item: int(n - p.starts[b])}
}

// dup records a duplicate item at the current place in the input. The
// open batch exists: a duplicate follows the item it repeats.
func (p *packer) dup(id string, of Loc) {
	p.open.Dups = append(p.open.Dups, Dup{Pos: p.open.Items, ID: id, Of: of})
}

// close returns the open batch, if any, and starts none.
func (p *packer) close() *Batch {
	b := p.open
	p.open = nil
	return b
}
