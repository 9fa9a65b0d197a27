// Example ftp-host plugin in standard Go: `GOOS=wasip1 GOARCH=wasm`, bindings
// from wit-bindgen-go, `//go:wasmexport` entry points, and the WASI preview 1
// adapter to make a component (see build.sh).
//
// Usage (everything after `--` on the `ftp-host run` command line):
//
//	--host H [--port P] [--user U] [--password W] [--security none|explicit|implicit]
//	[--force-prot] [--timeout-ms N] COMMAND [ARGS...]
//
//	ls [DIR]                print the names in DIR
//	ls -l [DIR]             print DIR's entries, sorted by name: KIND SIZE MODIFIED NAME
//	                        (the format of guest-examples/README.md)
//	mkdir [-p] DIR          create DIR (with -p its parents too, and no error if it exists)
//	mv FROM TO              rename or move FROM to TO
//	rm PATH                 delete the file PATH
//	rmdir DIR               remove the empty directory DIR
//	sha256 PATH...          download each file and print its SHA-256 and size
//	cat PATH                download a file and print it
//	put PATH TEXT           upload TEXT to PATH
//	download REMOTE LOCAL   stream REMOTE into LOCAL, a file in a directory the
//	                        operator granted with --dir: the host moves the
//	                        whole file into LOCAL.part (download.save-to, never
//	                        through this plugin's memory), which is renamed to
//	                        LOCAL once the server confirmed the transfer
//
// A failed call is reported as `KIND: message`, KIND being the WIT error case
// (`not-found`, `auth`, ...), so an operator or a test can tell them apart.
//
// This file is the package `export_wit_world` of the Go module that build.sh
// assembles: the generated `wit_exports.go` calls Run below.
package export_wit_world

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
	ftp "wit_component/naas_ftp_client"
	ftptypes "wit_component/naas_ftp_types"
	"wit_component/wasi_filesystem_preopens"
	fs "wit_component/wasi_filesystem_types"
)

const usage = "usage: --host HOST [--port P] [--user U] [--password W] " +
	"[--security none|explicit|implicit] [--force-prot] [--timeout-ms N] " +
	"ls|sha256|cat|put|download|mkdir|mv|rm|rmdir ..."

// ftpError is a failed FTP call, already described as `KIND: message`.
type ftpError struct{ text string }

func (e ftpError) Error() string { return e.text }

// describe turns a WIT error into `KIND: message`.
func describe(e ftptypes.Error) error {
	kind, message := "", ""
	switch e.Tag() {
	case ftptypes.Error_Denied:
		kind, message = "denied", e.Denied()
	case ftptypes.Error_Connect:
		kind, message = "connect", e.Connect()
	case ftptypes.Error_Tls:
		kind, message = "tls", e.Tls()
	case ftptypes.Error_Auth:
		kind, message = "auth", e.Auth()
	case ftptypes.Error_NotFound:
		kind, message = "not-found", e.NotFound()
	case ftptypes.Error_Permission:
		kind, message = "permission", e.Permission()
	case ftptypes.Error_Timeout:
		kind, message = "timeout", e.Timeout()
	case ftptypes.Error_Protocol:
		p := e.Protocol()
		kind, message = "protocol", fmt.Sprintf("%d %s", p.Code, p.Message)
	case ftptypes.Error_InvalidInput:
		kind, message = "invalid-input", e.InvalidInput()
	case ftptypes.Error_TooLarge:
		kind, message = "too-large", e.TooLarge()
	case ftptypes.Error_Io:
		kind, message = "io", e.Io()
	case ftptypes.Error_Unsupported:
		kind, message = "unsupported", e.Unsupported()
	default:
		// A case added by a later WIT version than this plugin knows.
		kind, message = "unknown", fmt.Sprintf("error case %d", e.Tag())
	}
	return ftpError{kind + ": " + message}
}

// unwrap returns a result's value, or its error described.
func unwrap[T any](r witTypes.Result[T, ftptypes.Error]) (T, error) {
	if r.IsErr() {
		var zero T
		return zero, describe(r.Err())
	}
	return r.Ok(), nil
}

// Run is the export `run: func(args: list<string>) -> result<string, string>`.
func Run(args []string) witTypes.Result[string, string] {
	summary, err := run(args)
	if err != nil {
		return witTypes.Err[string, string](err.Error())
	}
	return witTypes.Ok[string, string](summary)
}

func run(args []string) (string, error) {
	options, command, err := parseArgs(args)
	if err != nil {
		return "", err
	}
	session, err := unwrap(ftp.Connect(options))
	if err != nil {
		return "", err
	}
	// Dropping the session closes the connection, also after a failure.
	defer session.Drop()
	summary, err := runCommand(session, command)
	if err != nil {
		return "", err
	}
	if _, err := unwrap(session.Quit()); err != nil {
		return "", err
	}
	return summary, nil
}

func runCommand(session *ftp.Session, command []string) (string, error) {
	name, rest := command[0], command[1:]
	switch {
	case name == "ls" && len(rest) > 0 && rest[0] == "-l":
		path := witTypes.None[string]()
		if len(rest) > 1 {
			path = witTypes.Some(rest[1])
		}
		entries, err := unwrap(session.List(path))
		if err != nil {
			return "", err
		}
		// Go compares strings byte by byte: the UTF-8 order.
		slices.SortFunc(entries, func(a, b ftptypes.Entry) int { return strings.Compare(a.Name, b.Name) })
		for _, entry := range entries {
			fmt.Println(entryLine(entry))
		}
		return fmt.Sprintf("%d entries", len(entries)), nil
	case name == "mkdir" && len(rest) > 0:
		parents := rest[0] == "-p"
		dir := rest[0]
		if parents {
			if len(rest) < 2 {
				break
			}
			dir = rest[1]
		}
		if _, err := unwrap(session.Mkdir(dir, parents)); err != nil {
			return "", err
		}
		return "created directory " + dir, nil
	case name == "mv" && len(rest) > 1:
		if _, err := unwrap(session.Rename(rest[0], rest[1])); err != nil {
			return "", err
		}
		return fmt.Sprintf("renamed %s to %s", rest[0], rest[1]), nil
	case name == "rm" && len(rest) > 0:
		if _, err := unwrap(session.Delete(rest[0])); err != nil {
			return "", err
		}
		return "deleted " + rest[0], nil
	case name == "rmdir" && len(rest) > 0:
		if _, err := unwrap(session.Rmdir(rest[0])); err != nil {
			return "", err
		}
		return "removed directory " + rest[0], nil
	case name == "ls":
		path := witTypes.None[string]()
		if len(rest) > 0 {
			path = witTypes.Some(rest[0])
		}
		names, err := unwrap(session.ListDirectory(path))
		if err != nil {
			return "", err
		}
		for _, name := range names {
			fmt.Println(name)
		}
		return fmt.Sprintf("%d entries", len(names)), nil
	case name == "sha256" && len(rest) > 0:
		for _, path := range rest {
			data, err := unwrap(session.Get(path))
			if err != nil {
				return "", err
			}
			sum := sha256.Sum256(data)
			fmt.Printf("%s  %d  %s\n", hex.EncodeToString(sum[:]), len(data), path)
		}
		return fmt.Sprintf("%d files checked", len(rest)), nil
	case name == "cat" && len(rest) > 0:
		data, err := unwrap(session.Get(rest[0]))
		if err != nil {
			return "", err
		}
		os.Stdout.Write(data) // the exact bytes, binary or not
		return fmt.Sprintf("%d bytes", len(data)), nil
	case name == "put" && len(rest) > 0:
		text := ""
		if len(rest) > 1 {
			text = rest[1]
		}
		sent, err := unwrap(session.Send(rest[0], []byte(text)))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("uploaded %d bytes to %s", sent, rest[0]), nil
	case name == "download" && len(rest) == 2:
		return download(session, rest[0], rest[1])
	}
	quoted := make([]string, len(command))
	for i, arg := range command {
		quoted[i] = strconv.Quote(arg)
	}
	return "", fmt.Errorf("invalid-input: unknown command [%s]: "+
		"expected ls, sha256, cat, put, download, mkdir, mv, rm or rmdir",
		strings.Join(quoted, ", "))
}

// entryLine is the `ls -l` line every example prints (guest-examples/README.md):
// `KIND SIZE MODIFIED NAME`, single spaces, `-` for what the server did not
// say, and ` -> TARGET` when the entry has a target.
func entryLine(e ftptypes.Entry) string {
	kind := "other"
	switch e.Kind {
	case ftptypes.EntryKind_File:
		kind = "file"
	case ftptypes.EntryKind_Directory:
		kind = "directory"
	case ftptypes.EntryKind_Symlink:
		kind = "symlink"
	}
	size, modified := "-", "-"
	if e.Size.IsSome() {
		size = strconv.FormatUint(e.Size.Some(), 10)
	}
	if e.Modified.IsSome() {
		// Whole seconds, UTC: the fraction is dropped, not rounded.
		modified = time.Unix(e.Modified.Some().Seconds, 0).UTC().Format("2006-01-02T15:04:05Z")
	}
	line := fmt.Sprintf("%s %s %s %s", kind, size, modified, e.Name)
	if e.Target.IsSome() {
		line += " -> " + e.Target.Some()
	}
	return line
}

// localDir finds the granted directory holding path and the path inside it.
func localDir(path string) (*fs.Descriptor, string, error) {
	var granted []string
	for _, entry := range wasi_filesystem_preopens.GetDirectories() {
		dir, name := entry.F0, entry.F1
		granted = append(granted, name)
		if rest, ok := strings.CutPrefix(path, strings.TrimRight(name, "/")+"/"); ok && rest != "" {
			return dir, rest, nil
		}
	}
	return nil, "", fmt.Errorf("denied: %s is not in a directory the operator granted (granted: %q); "+
		"the operator can add --dir HOST_DIR::GUEST_DIR", path, granted)
}

// download streams remote into the local file local, atomically: the bytes
// go to local.part, which becomes local only once the server confirmed the
// whole transfer. Nothing half-written is left behind on failure.
func download(session *ftp.Session, remote, local string) (string, error) {
	dir, name, err := localDir(local)
	if err != nil {
		return "", err
	}
	part := name + ".part"
	// Ask the server first: a missing file must not leave an empty part behind.
	transfer, err := unwrap(session.OpenGet(remote, 0))
	if err != nil {
		return "", err
	}
	opened := dir.OpenAt(0, part, fs.OpenFlags_Create|fs.OpenFlags_Truncate, fs.DescriptorFlags_Write)
	if opened.IsErr() {
		transfer.Drop()
		return "", fmt.Errorf("io: cannot write %s.part: error code %d", local, opened.Err())
	}
	file := opened.Ok()
	// The host moves the whole file into the part file (over plain FTP the
	// kernel does); a failure is the server's verdict in `finish` too.
	_, copyErr := unwrap(transfer.SaveTo(file, 0))
	file.Drop()
	// The server's final reply decides, even when the copy looked fine.
	n, err := unwrap(ftp.DownloadFinish(transfer))
	if err == nil {
		err = copyErr
	}
	if err == nil {
		if r := dir.RenameAt(part, dir, name); r.IsErr() {
			err = fmt.Errorf("io: cannot rename %s.part to %s: error code %d", local, local, r.Err())
		}
	}
	if err != nil {
		dir.UnlinkFileAt(part)
		return "", err
	}
	return fmt.Sprintf("downloaded %s to %s (%d bytes, %d this time)", remote, local, n, n), nil
}

// parseArgs reads the connection options; the rest is the command.
func parseArgs(args []string) (ftptypes.ConnectOptions, []string, error) {
	options := ftptypes.ConnectOptions{
		User:      "anonymous",
		Security:  ftptypes.Security_None,
		Port:      witTypes.None[uint16](),
		TimeoutMs: witTypes.None[uint32](),
	}
	i := 0
	for ; i < len(args); i++ {
		flag := args[i]
		if flag == "--force-prot" {
			options.ForceProt = true
			continue
		}
		switch flag {
		case "--host", "--port", "--user", "--password", "--security", "--timeout-ms":
		default:
			// Not an option: the command starts here.
			return finishArgs(options, args[i:])
		}
		if i+1 == len(args) {
			return options, nil, fmt.Errorf("%s needs a value", flag)
		}
		i++
		value := args[i]
		switch flag {
		case "--host":
			options.Host = value
		case "--user":
			options.User = value
		case "--password":
			options.Password = value
		case "--port":
			port, err := strconv.ParseUint(value, 10, 16)
			if err != nil {
				return options, nil, fmt.Errorf("bad --port %q", value)
			}
			options.Port = witTypes.Some(uint16(port))
		case "--timeout-ms":
			ms, err := strconv.ParseUint(value, 10, 32)
			if err != nil {
				return options, nil, fmt.Errorf("bad --timeout-ms %q", value)
			}
			options.TimeoutMs = witTypes.Some(uint32(ms))
		case "--security":
			switch value {
			case "none":
				options.Security = ftptypes.Security_None
			case "explicit":
				options.Security = ftptypes.Security_Explicit
			case "implicit":
				options.Security = ftptypes.Security_Implicit
			default:
				return options, nil, fmt.Errorf("bad --security %q: none, explicit or implicit", value)
			}
		}
	}
	return finishArgs(options, nil)
}

func finishArgs(options ftptypes.ConnectOptions, command []string) (ftptypes.ConnectOptions, []string, error) {
	if options.Host == "" || len(command) == 0 {
		return options, nil, fmt.Errorf("%s", usage)
	}
	return options, command, nil
}
