package job

// table maps 64-bit hashes to 32-bit values in two flat slices sized for
// the input's line count at a load of 3/4, so that a million entries cost
// 16 MB (11 MB for a set, which has no values) with no pointers for the
// garbage collector to scan; a Go map costs about twice that and doubles
// while it grows. Keys are hashes, never 0 (0 marks an empty slot; a hash
// of 0 is stored as 1). Lookups probe linearly.
type table struct {
	keys []uint64
	vals []uint32 // nil for a set
	n    int
}

// newTable returns a table sized for n entries, with values or without.
func newTable(n int, values bool) *table {
	size := n*4/3 + 1024
	t := &table{keys: make([]uint64, size)}
	if values {
		t.vals = make([]uint32, size)
	}
	return t
}

func (t *table) slot(k uint64) int {
	return int(k * 0x9e3779b97f4a7c15 >> 1 % uint64(len(t.keys)))
}

// get returns the value of k.
func (t *table) get(k uint64) (uint32, bool) {
	if k == 0 {
		k = 1
	}
	for i := t.slot(k); ; i = (i + 1) % len(t.keys) {
		switch t.keys[i] {
		case k:
			if t.vals == nil {
				return 0, true
			}
			return t.vals[i], true
		case 0:
			return 0, false
		}
	}
}

// put sets the value of k, and reports whether k was new.
func (t *table) put(k uint64, v uint32) bool {
	if k == 0 {
		k = 1
	}
	if (t.n+1)*4 > len(t.keys)*3 {
		t.grow()
	}
	for i := t.slot(k); ; i = (i + 1) % len(t.keys) {
		switch t.keys[i] {
		case k:
			if t.vals != nil {
				t.vals[i] = v
			}
			return false
		case 0:
			t.keys[i] = k
			if t.vals != nil {
				t.vals[i] = v
			}
			t.n++
			return true
		}
	}
}

func (t *table) grow() {
	old := *t
	t.keys = make([]uint64, 2*len(old.keys))
	if old.vals != nil {
		t.vals = make([]uint32, 2*len(old.vals))
	}
	t.n = 0
	for i, k := range old.keys {
		if k != 0 {
			v := uint32(0)
			if old.vals != nil {
				v = old.vals[i]
			}
			t.put(k, v)
		}
	}
}
