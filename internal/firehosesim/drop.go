package firehosesim

import (
	"net/http"
	"strconv"
)

// dropAnswer sends the status line, headers and half of body, then closes the
// connection. The headers promise the whole body, so the client fails while
// reading it ("unexpected EOF") after the records have already landed: it
// cannot tell whether the call succeeded.
//
// It needs a connection it can take over (HTTP/1.x through net/http). Where
// that is impossible it aborts the response with http.ErrAbortHandler, which
// net/http turns into a closed connection without an answer.
func dropAnswer(w http.ResponseWriter, body []byte, requestID string) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	head := "HTTP/1.1 200 OK\r\nContent-Type: " + contentTypeJSON11 +
		"\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nX-Amzn-Requestid: " + requestID + "\r\n\r\n"
	// Write errors do not matter: the point is that the client gets less
	// than it was promised.
	_, _ = rw.WriteString(head)
	_, _ = rw.Write(body[:len(body)/2])
	_ = rw.Flush()
}
