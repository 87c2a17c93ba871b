package finance

import (
	"bufio"
	"net/http"
	"time"
)

// streamIdle is how long a streamed response may go without a flush before
// the server's write timeout cuts it.
const streamIdle = 2 * time.Minute

// stream is a response body sent as it is produced: buffered for
// efficiency, and each Flush sends what is buffered and pushes the write
// deadline back, so that a long export or audit that makes progress is not
// cut by the server's write timeout, and memory holds one buffer only.
type stream struct {
	rc *http.ResponseController
	bw *bufio.Writer
	// out counts what reached the ResponseWriter.
	out *sentCounter
}

// sentCounter notes whether anything was written to w.
type sentCounter struct {
	w    http.ResponseWriter
	sent bool
}

// Write writes p to the response and notes it.
func (c *sentCounter) Write(p []byte) (int, error) {
	c.sent = c.sent || len(p) > 0
	return c.w.Write(p)
}

func newStream(w http.ResponseWriter) *stream {
	out := &sentCounter{w: w}
	st := &stream{rc: http.NewResponseController(w), bw: bufio.NewWriterSize(out, 32<<10), out: out}
	_ = st.rc.SetWriteDeadline(time.Now().Add(streamIdle))
	return st
}

// Write buffers p.
func (st *stream) Write(p []byte) (int, error) { return st.bw.Write(p) }

// Flush sends what is buffered to the client now.
func (st *stream) Flush() error {
	if err := st.bw.Flush(); err != nil {
		return err
	}
	// Not every writer supports these (http.ErrNotSupported): harmless.
	_ = st.rc.SetWriteDeadline(time.Now().Add(streamIdle))
	_ = st.rc.Flush()
	return nil
}

// started reports whether anything was written: after that the status is
// sent, and an error can only be reported inside the body.
func (st *stream) started() bool { return st.out.sent || st.bw.Buffered() > 0 }
