package logs

import (
	"bufio"
	"time"
)

// printer turns records into output lines: it filters, joins partial
// records, and holds the last Tail lines until the end of what existed.
type printer struct {
	opts    ReadOptions
	out     *bufio.Writer
	joining [2]joined // by stream: 0 stdout, 1 stderr
	reached bool      // a line has passed Since
	tailing bool      // lines go to tail, not out
	tail    [][]byte  // ring of the last opts.Tail lines
	next    int       // where the next line goes in tail once it is full
	scratch []byte    // one formatted line
}

// joined is a line being put together from partial records.
type joined struct {
	time    time.Time
	content []byte
	active  bool
}

func newPrinter(opts ReadOptions, out *bufio.Writer) *printer {
	return &printer{opts: opts, out: out, tailing: opts.Tail >= 0, reached: opts.Since.IsZero()}
}

// record takes one line of a file.
func (p *printer) record(b []byte) {
	l, err := ParseLine(b)
	if err != nil {
		if p.reached {
			p.print(time.Time{}, b, true)
		}
		return
	}
	if p.opts.Stream != "" && l.Stream != p.opts.Stream {
		return
	}
	j := &p.joining[streamIndex(l.Stream)]
	if l.Partial || j.active {
		if !j.active {
			j.active, j.time = true, l.Time
		}
		j.content = append(j.content, l.Content...)
		if !l.Partial || len(j.content) >= maxJoined {
			p.line(j.time, j.content)
			j.content, j.active = j.content[:0], false
		}
		return
	}
	p.line(l.Time, l.Content)
}

// end prints lines whose last record never came.
func (p *printer) end() {
	for i := range p.joining {
		if j := &p.joining[i]; j.active {
			p.line(j.time, j.content)
			j.content, j.active = j.content[:0], false
		}
	}
}

func (p *printer) line(t time.Time, content []byte) {
	if !p.opts.Since.IsZero() && t.Before(p.opts.Since) {
		return
	}
	p.reached = true
	p.print(t, content, false)
}

func (p *printer) print(t time.Time, content []byte, raw bool) {
	if !p.tailing {
		p.scratch = p.format(p.scratch[:0], t, content, raw)
		p.out.Write(p.scratch)
		return
	}
	if p.opts.Tail == 0 {
		return
	}
	if len(p.tail) < p.opts.Tail {
		p.tail = append(p.tail, p.format(nil, t, content, raw))
		return
	}
	p.tail[p.next] = p.format(p.tail[p.next][:0], t, content, raw)
	p.next = (p.next + 1) % len(p.tail)
}

func (p *printer) format(b []byte, t time.Time, content []byte, raw bool) []byte {
	if p.opts.Timestamps && !raw {
		b = t.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, ' ')
	}
	b = append(b, content...)
	return append(b, '\n')
}

// endTail prints the held lines and prints later lines directly.
func (p *printer) endTail() {
	if !p.tailing {
		return
	}
	for i := range p.tail {
		p.out.Write(p.tail[(p.next+i)%len(p.tail)])
	}
	p.tailing, p.tail = false, nil
}

func streamIndex(s string) int {
	if s == Stderr {
		return 1
	}
	return 0
}
