package aofrepair

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// command is one command of an AOF: its byte range and its name.
type command struct {
	start, end int64
	// name is the first argument, upper-cased, at most maxName bytes: enough
	// for MULTI, EXEC and SELECT, which are all the repair looks at.
	name string
}

const (
	maxName   = 16
	maxHeader = 128 // redis-server reads a header line into a 128-byte buffer
	maxBulk   = 1 << 40
)

// errPartial reports that the input ended inside a command: a crash cut the
// last write short.
var errPartial = errors.New("aofrepair: input ends inside a command")

// FormatError reports bytes that are not an AOF's RESP commands. The repair
// never changes a file that has one: it is damage, not a cut write, and
// redis-server refuses it too.
type FormatError struct {
	File   string
	Offset int64
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("aofrepair: %s: not an AOF at offset %d: %s", e.File, e.Offset, e.Msg)
}

// scanner reads the commands of a RESP AOF, as redis-server's loader does:
// "*<argc>\r\n" then argc times "$<len>\r\n<bytes>\r\n"; lines starting with
// '#' are annotations (aof-timestamp-enabled) and are skipped.
type scanner struct {
	r   *bufio.Reader
	off int64
}

func newScanner(r io.Reader) *scanner {
	return &scanner{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next command. It returns io.EOF when the input ends
// between commands, errPartial when it ends inside one (the partial command
// starts at the returned command's start), a *FormatError otherwise.
func (s *scanner) next() (command, error) {
	for {
		c := command{start: s.off}
		line, err := s.line()
		if err != nil {
			if err == io.EOF && s.off == c.start {
				return c, io.EOF
			}
			return c, s.fail(err, c.start)
		}
		if line[0] == '#' {
			continue
		}
		if line[0] != '*' {
			return c, &FormatError{Offset: c.start, Msg: fmt.Sprintf("command starts with %q, want '*'", line[0])}
		}
		argc, err := strconv.ParseInt(line[1:], 10, 32)
		if err != nil || argc < 1 {
			return c, &FormatError{Offset: c.start, Msg: fmt.Sprintf("bad argument count %q", line)}
		}
		for i := int64(0); i < argc; i++ {
			at := s.off
			line, err := s.line()
			if err != nil {
				return c, s.fail(err, at)
			}
			if line[0] != '$' {
				return c, &FormatError{Offset: at, Msg: fmt.Sprintf("argument starts with %q, want '$'", line[0])}
			}
			n, err := strconv.ParseInt(line[1:], 10, 64)
			if err != nil || n < 0 || n > maxBulk {
				return c, &FormatError{Offset: at, Msg: fmt.Sprintf("bad argument length %q", line)}
			}
			if i == 0 {
				if err := s.name(&c, n); err != nil {
					return c, s.fail(err, at)
				}
			} else if err := s.skip(n); err != nil {
				return c, s.fail(err, at)
			}
			at = s.off
			if err := s.crlf(); err != nil {
				return c, s.fail(err, at)
			}
		}
		c.end = s.off
		return c, nil
	}
}

// fail maps a read error: the end of the input is a cut, anything else is
// passed on (a *FormatError gets its offset).
func (s *scanner) fail(err error, at int64) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errPartial
	}
	var fe *FormatError
	if errors.As(err, &fe) && fe.Offset < 0 {
		fe.Offset = at
	}
	return err
}

// line reads one header line and returns it without its "\r\n"; it is never
// empty.
func (s *scanner) line() (string, error) {
	var buf []byte
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return "", err
		}
		s.off++
		if b == '\n' {
			break
		}
		buf = append(buf, b)
		if len(buf) > maxHeader {
			return "", &FormatError{Offset: -1, Msg: "header line too long"}
		}
	}
	if len(buf) < 2 || buf[len(buf)-1] != '\r' {
		return "", &FormatError{Offset: -1, Msg: fmt.Sprintf("bad header line %q", buf)}
	}
	return string(buf[:len(buf)-1]), nil
}

func (s *scanner) name(c *command, n int64) error {
	keep := min(n, maxName)
	buf := make([]byte, keep)
	k, err := io.ReadFull(s.r, buf)
	s.off += int64(k)
	if err != nil {
		return err
	}
	for i, b := range buf {
		if 'a' <= b && b <= 'z' {
			buf[i] = b - 'a' + 'A'
		}
	}
	c.name = string(buf)
	return s.skip(n - keep)
}

func (s *scanner) skip(n int64) error {
	for n > 0 {
		step := int(min(n, 1<<30))
		k, err := s.r.Discard(step)
		s.off += int64(k)
		n -= int64(k)
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *scanner) crlf() error {
	var b [2]byte
	k, err := io.ReadFull(s.r, b[:])
	s.off += int64(k)
	if err != nil {
		return err
	}
	if b != [2]byte{'\r', '\n'} {
		return &FormatError{Offset: -1, Msg: fmt.Sprintf("argument ends with %q, want \"\\r\\n\"", b[:])}
	}
	return nil
}
