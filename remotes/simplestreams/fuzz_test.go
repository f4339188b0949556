package simplestreams

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)
var anyHex64 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// FuzzBuild feeds arbitrary images.json documents to the product parser:
// no panic, and every image it offers has a fingerprint that is 64 hex
// digits (it names files in the image store) and files with a hash to
// verify against.
func FuzzBuild(f *testing.F) {
	if b, err := os.ReadFile("testdata/images.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"products":{"p":{"aliases":"a","arch":"amd64","os":"x","release":"1","versions":{"20240101_01:00":{"items":{"m":{"ftype":"lxd.tar.xz","path":"m","size":1,"sha256":"aa","combined_squashfs_sha256":"../../etc/passwd"},"r":{"ftype":"squashfs","path":"r","size":-5,"sha256":"bb"}}}}}}}`))
	f.Add([]byte(`{"products":{"p":{"versions":{"x":{"items":{"c":{"ftype":"lxd_combined.tar.gz","path":"/abs","sha256":"` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `"}}}}}}}`))
	f.Add([]byte(`{"products":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Products
		if json.Unmarshal(data, &p) != nil {
			return
		}
		imgs, _ := Build([]Products{p}, "x86_64", "http://127.0.0.1/")
		for _, im := range imgs {
			if !hex64.MatchString(im.Fingerprint) {
				// Lower-cased by Build; anything else is a path or garbage.
				t.Fatalf("image with fingerprint %q offered from %s", im.Fingerprint, data)
			}
			for _, fl := range im.Files {
				if fl.SHA256 != "" && !anyHex64.MatchString(fl.SHA256) {
					t.Fatalf("file %q with sha256 %q offered", fl.Path, fl.SHA256)
				}
			}
		}
	})
}
