package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/llmq/llmq/internal/testclock"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name        string
		done, total int64
		rate        float64
		bar         bool
		want        string
	}{
		{"plain", 450, 1000, 50, false, "enqueue: 450/1000 (45%), 50/s, ETA 11s"},
		{"plain, total unknown", 450, 0, 50, false, "enqueue: 450, 50/s, ETA ?"},
		{"plain, no rate yet", 0, 1000, 0, false, "enqueue: 0/1000 (0%), 0/s, ETA ?"},
		{"bar", 500, 1000, 100, true, "enqueue [===============>              ]  50% 500/1000  100/s  ETA 5s"},
		{"bar full", 1000, 1000, 100, true, "enqueue [==============================] 100% 1000/1000  100/s  ETA 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Line("enqueue", tt.done, tt.total, tt.rate, tt.bar); got != tt.want {
				t.Errorf("Line = %q\n  want %q", got, tt.want)
			}
		})
	}
}

func TestMeter(t *testing.T) {
	tests := []struct {
		name string
		tty  bool
		want []string // what is written, in order
	}{
		{"plain lines every interval", false, []string{
			"embed: 60/100 (60%), 10/s, ETA 4s\n",
			"note\n",
			"embed: 100/100 (100%), 10/s, ETA 0s\n",
		}},
		{"bar redrawn in place", true, []string{
			"\r\033[Kembed [===>                          ]  10% 10/100  10/s  ETA 9s",
			"\r\033[Kembed [==================>           ]  60% 60/100  10/s  ETA 4s",
			"\r\033[Knote\n\r\033[Kembed [==================>           ]  60% 60/100  10/s  ETA 4s",
			"\r\033[Kembed [==============================] 100% 100/100  10/s  ETA 0s",
			"\r\033[Kembed [==============================] 100% 100/100  10/s  ETA 0s\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := testclock.New(time.Unix(1000, 0))
			m := New(&buf, "embed", tt.tty)
			m.now = c.Now
			m.Set(0, 100)
			c.Advance(time.Second)
			m.Set(10, 100) // drawn on a terminal; within the plain interval otherwise
			c.Advance(5 * time.Second)
			m.Set(60, 100)
			m.Printf("note\n")
			c.Advance(4 * time.Second)
			m.Set(100, 100)
			m.Done()
			m.Done()
			if got, want := buf.String(), strings.Join(tt.want, ""); got != want {
				t.Errorf("wrote %q\n  want %q", got, want)
			}
		})
	}
}
