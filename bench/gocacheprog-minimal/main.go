// A minimal GOCACHEPROG written in Go with the standard library only: the local disk, nothing else. Not shipped; it is
// the benchmark's baseline for what a cache helper costs at least (bench/cacheprog.sh). The cache folder is the last
// argument. Requests are answered one at a time, in order, as a small helper does.
//
// With -preload it first reads every entry of the folder into memory and answers gets from there, touching no file
// per request: the floor of any helper on this protocol (only the JSON and the pipe are left), for the benchmark to
// show how much of a warm build a helper can still save at all.
package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type request struct {
	ID       int64
	Command  string
	ActionID []byte `json:",omitempty"`
	OutputID []byte `json:",omitempty"`
	BodySize int64  `json:",omitempty"`
}

type response struct {
	ID            int64
	Err           string     `json:",omitempty"`
	KnownCommands []string   `json:",omitempty"`
	Miss          bool       `json:",omitempty"`
	OutputID      []byte     `json:",omitempty"`
	Size          int64      `json:",omitempty"`
	Time          *time.Time `json:",omitempty"`
	DiskPath      string     `json:",omitempty"`
}

type entry struct {
	OutputID []byte
	Size     int64
	Time     time.Time
}

// preloaded holds every entry by action id (hex) when -preload is given.
var preloaded map[string]response

func main() {
	preload := flag.Bool("preload", false, "answer gets from entries read into memory at start")
	flag.Parse()
	dir := flag.Arg(0)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *preload {
		preloaded = load(dir)
	}
	in := json.NewDecoder(bufio.NewReader(os.Stdin))
	out := json.NewEncoder(os.Stdout)
	out.Encode(response{KnownCommands: []string{"get", "put", "close"}})
	for {
		var req request
		if err := in.Decode(&req); err != nil {
			return
		}
		switch req.Command {
		case "get":
			out.Encode(get(dir, req))
		case "put":
			var body []byte
			if req.BodySize > 0 {
				if err := in.Decode(&body); err != nil {
					return
				}
			}
			out.Encode(put(dir, req, body))
		case "close":
			out.Encode(response{ID: req.ID})
			return
		default:
			out.Encode(response{ID: req.ID, Err: "unknown command " + req.Command})
		}
	}
}

func load(dir string) map[string]response {
	entries := map[string]response{}
	names, _ := filepath.Glob(filepath.Join(dir, "a-*"))
	for _, name := range names {
		action := strings.TrimPrefix(filepath.Base(name), "a-")
		if hit := get(dir, request{ActionID: mustHex(action)}); !hit.Miss {
			entries[action] = hit
		}
	}
	return entries
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

func get(dir string, req request) response {
	if preloaded != nil {
		hit, ok := preloaded[hex.EncodeToString(req.ActionID)]
		if !ok {
			return response{ID: req.ID, Miss: true}
		}
		hit.ID = req.ID
		return hit
	}
	data, err := os.ReadFile(filepath.Join(dir, "a-"+hex.EncodeToString(req.ActionID)))
	var e entry
	if err != nil || json.Unmarshal(data, &e) != nil {
		return response{ID: req.ID, Miss: true}
	}
	path := filepath.Join(dir, "o-"+hex.EncodeToString(e.OutputID))
	if _, err := os.Stat(path); err != nil {
		return response{ID: req.ID, Miss: true}
	}
	return response{ID: req.ID, OutputID: e.OutputID, Size: e.Size, Time: &e.Time, DiskPath: path}
}

func put(dir string, req request, body []byte) response {
	path := filepath.Join(dir, "o-"+hex.EncodeToString(req.OutputID))
	if err := writeFile(path, body); err != nil {
		return response{ID: req.ID, Err: err.Error()}
	}
	e, _ := json.Marshal(entry{OutputID: req.OutputID, Size: int64(len(body)), Time: time.Now()})
	if err := writeFile(filepath.Join(dir, "a-"+hex.EncodeToString(req.ActionID)), e); err != nil {
		return response{ID: req.ID, Err: err.Error()}
	}
	return response{ID: req.ID, DiskPath: path}
}

// writeFile replaces path atomically (a temporary file renamed over it), so a reader never sees half a file.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}
