package jetstream

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/wrpc-kv/gateway/keyvalue"
)

func isOther(err error) bool {
	var oe *keyvalue.OtherError
	return errors.As(err, &oe)
}

func TestStoreFunctions(t *testing.T) {
	s, _ := testStore(t)
	ctx := testCtx(t)

	if _, ok, err := s.Get(ctx, "b", "k"); err != nil || ok {
		t.Fatalf("Get absent = %v, %v; want absent", ok, err)
	}
	if err := s.Set(ctx, "b", "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get(ctx, "b", "k"); err != nil || !ok || string(v) != "v1" {
		t.Fatalf("Get = %q, %v, %v; want v1", v, ok, err)
	}
	if err := s.Set(ctx, "b", "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := s.Get(ctx, "b", "k"); string(v) != "v2" {
		t.Fatalf("Get after overwrite = %q; want v2", v)
	}
	if ok, err := s.Exists(ctx, "b", "k"); err != nil || !ok {
		t.Fatalf("Exists = %v, %v; want true", ok, err)
	}
	resp, err := s.ListKeys(ctx, "b", nil)
	if err != nil || !slices.Equal(resp.Keys, []string{"k"}) || resp.Cursor != nil {
		t.Fatalf("ListKeys = %+v, %v; want [k], no cursor", resp, err)
	}
	if err := s.Delete(ctx, "b", "k"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Exists(ctx, "b", "k"); err != nil || ok {
		t.Fatalf("Exists after delete = %v, %v; want false", ok, err)
	}
	if _, ok, err := s.Get(ctx, "b", "k"); err != nil || ok {
		t.Fatalf("Get after delete = %v, %v; want absent", ok, err)
	}
	if err := s.Delete(ctx, "b", "never-set"); err != nil {
		t.Fatalf("Delete absent = %v", err)
	}
	if resp, err := s.ListKeys(ctx, "b", nil); err != nil || len(resp.Keys) != 0 || resp.Cursor != nil {
		t.Fatalf("ListKeys after deletes = %+v, %v; want empty", resp, err)
	}

	if n, err := s.Increment(ctx, "b", "c", 3); err != nil || n != 3 {
		t.Fatalf("Increment = %d, %v; want 3", n, err)
	}
	if n, err := s.Increment(ctx, "b", "c", 3); err != nil || n != 6 {
		t.Fatalf("Increment = %d, %v; want 6", n, err)
	}
	if v, _, _ := s.Get(ctx, "b", "c"); string(v) != "6" {
		t.Fatalf("counter reads %q; want \"6\"", v)
	}

	err = s.SetMany(ctx, "b", []keyvalue.KeyValue{
		{Key: "x", Value: []byte("1")},
		{Key: "y", Value: []byte("2")},
		{Key: "x", Value: []byte("3")}, // the last value of a key wins
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetMany(ctx, "b", []string{"y", "absent", "x", "c", "y"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"y=2", "nil", "x=3", "c=6", "y=2"}
	for i, kv := range got {
		s := "nil"
		if kv != nil {
			s = kv.Key + "=" + string(kv.Value)
		}
		if s != want[i] {
			t.Errorf("GetMany[%d] = %s; want %s", i, s, want[i])
		}
	}
	if err := s.DeleteMany(ctx, "b", []string{"x", "absent", "x"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetMany(ctx, "b", []string{"x", "y"})
	if got[0] != nil || got[1] == nil {
		t.Fatalf("after DeleteMany, GetMany = %v; want [nil y]", got)
	}
	if got, err := s.GetMany(ctx, "b", nil); err != nil || len(got) != 0 {
		t.Fatalf("GetMany of no keys = %v, %v", got, err)
	}
	if err := s.SetMany(ctx, "b", nil); err != nil {
		t.Fatalf("SetMany of no items = %v", err)
	}
}

func TestEmptyValueAndEmptyNames(t *testing.T) {
	s, _ := testStore(t)
	ctx := testCtx(t)
	for _, in := range [][]byte{nil, {}} {
		if err := s.Set(ctx, "b", "empty", in); err != nil {
			t.Fatal(err)
		}
		v, ok, err := s.Get(ctx, "b", "empty")
		if err != nil || !ok || v == nil || len(v) != 0 {
			t.Fatalf("Get empty value = %#v, %v, %v; want a non-nil empty slice", v, ok, err)
		}
		got, err := s.GetMany(ctx, "b", []string{"empty"})
		if err != nil || got[0] == nil || got[0].Value == nil || len(got[0].Value) != 0 {
			t.Fatalf("GetMany empty value = %#v, %v", got[0], err)
		}
	}
	// The empty key and the empty bucket are names like any other.
	if err := s.Set(ctx, "", "", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get(ctx, "", ""); err != nil || !ok || string(v) != "v" {
		t.Fatalf("Get(\"\", \"\") = %q, %v, %v", v, ok, err)
	}
	if resp, err := s.ListKeys(ctx, "", nil); err != nil || !slices.Equal(resp.Keys, []string{""}) {
		t.Fatalf("ListKeys of the empty bucket = %q, %v; want [\"\"]", resp.Keys, err)
	}
}

var specialNames = []string{
	"ключ 🔑", "a/b", "a.b", "..", ".", " ", "%2F", "=", "_", "=2E", "_5F", "a..b", ".a", "a.",
	"*", ">", "a.*.>", "tab\there", "new\nline", "", "UPPER", "$KV", "日本語",
}

func TestSpecialNames(t *testing.T) {
	s, js := testStore(t)
	ctx := testCtx(t)
	for _, b := range specialNames {
		for _, k := range specialNames {
			if err := s.Set(ctx, b, k, []byte(b+"|"+k)); err != nil {
				t.Fatalf("Set(%q, %q) = %v", b, k, err)
			}
		}
	}
	for _, b := range specialNames {
		for _, k := range specialNames {
			v, ok, err := s.Get(ctx, b, k)
			if err != nil || !ok || string(v) != b+"|"+k {
				t.Fatalf("Get(%q, %q) = %q, %v, %v", b, k, v, ok, err)
			}
		}
		resp, err := s.ListKeys(ctx, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := slices.Sorted(slices.Values(resp.Keys)), slices.Sorted(slices.Values(specialNames)); !slices.Equal(got, want) {
			t.Fatalf("ListKeys(%q) = %q; want %q", b, got, want)
		}
		if n, err := s.Increment(ctx, b, "counter "+b, 2); err != nil || n != 2 {
			t.Fatalf("Increment in %q = %d, %v", b, n, err)
		}
		if err := s.Delete(ctx, b, "."); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Exists(ctx, b, "."); ok {
			t.Fatalf("key \".\" in %q exists after delete", b)
		}
		if ok, _ := s.Exists(ctx, b, ".."); !ok {
			t.Fatalf("deleting \".\" in %q removed \"..\" too", b)
		}
	}
	// Each bucket is its own JetStream KV bucket under its encoded name.
	kv, err := js.KeyValue(ctx, EncodeBucket("ключ 🔑"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, EncodeKey("a/b"))
	if err != nil || string(e.Value()) != "ключ 🔑|a/b" {
		t.Fatalf("stored key a/b reads %v, %v", e, err)
	}
}

func TestLongNames(t *testing.T) {
	s, _ := testStore(t)
	ctx := testCtx(t)
	bucket := strings.Repeat("b", MaxEncodedBucketLen)
	room := MaxSubjectLen - len("$KV.") - len(bucket) - 1
	key := strings.Repeat("k.", room/2) + "k"[:room%2]
	if len(EncodeKey(key)) != room {
		t.Fatalf("test key encodes to %d bytes; want %d", len(EncodeKey(key)), room)
	}
	if err := s.Set(ctx, bucket, key, []byte("v")); err != nil {
		t.Fatalf("Set with the longest names = %v", err)
	}
	if v, ok, err := s.Get(ctx, bucket, key); err != nil || !ok || string(v) != "v" {
		t.Fatalf("Get with the longest names = %q, %v, %v", v, ok, err)
	}
	if resp, err := s.ListKeys(ctx, bucket, nil); err != nil || len(resp.Keys) != 1 || resp.Keys[0] != key {
		t.Fatalf("ListKeys with the longest names = %d keys, %v", len(resp.Keys), err)
	}
	if n, err := s.Increment(ctx, bucket, key+"k", 0); !isOther(err) {
		t.Fatalf("Increment with a key one byte too long = %d, %v; want an OtherError", n, err)
	}
	for name, err := range map[string]error{
		"Set key":       s.Set(ctx, bucket, key+"é", nil),
		"Get key":       func() error { _, _, err := s.Get(ctx, bucket, key+"é"); return err }(),
		"Set bucket":    s.Set(ctx, bucket+"b", "k", nil),
		"Get bucket":    func() error { _, _, err := s.Get(ctx, bucket+"é", "k"); return err }(),
		"SetMany key":   s.SetMany(ctx, bucket, []keyvalue.KeyValue{{Key: "ok"}, {Key: key + "é"}}),
		"DeleteMany":    s.DeleteMany(ctx, bucket, []string{key + "é"}),
		"ListKeys":      func() error { _, err := s.ListKeys(ctx, bucket+"b", nil); return err }(),
		"GetMany key":   func() error { _, err := s.GetMany(ctx, bucket, []string{key + "é"}); return err }(),
		"Exists bucket": func() error { _, err := s.Exists(ctx, bucket+"b", "k"); return err }(),
	} {
		if !isOther(err) || !strings.Contains(err.Error(), "too long") {
			t.Errorf("%s with a name too long = %v; want an OtherError saying so", name, err)
		}
	}
	// Nothing of the failed SetMany was written.
	if ok, _ := s.Exists(ctx, bucket, "ok"); ok {
		t.Error("SetMany wrote an item although another item's key was too long")
	}
}

func TestIncrementErrors(t *testing.T) {
	s, _ := testStore(t)
	ctx := testCtx(t)
	for _, v := range []string{"", "abc", "-1", "+1", " 1", "1.5", "18446744073709551616"} {
		if err := s.Set(ctx, "b", "k", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Increment(ctx, "b", "k", 1); !isOther(err) {
			t.Errorf("Increment of %q = %v; want an OtherError", v, err)
		}
		if got, _, _ := s.Get(ctx, "b", "k"); string(got) != v {
			t.Errorf("failed Increment changed %q to %q", v, got)
		}
	}
	if n, err := s.Increment(ctx, "b", "max", math.MaxUint64); err != nil || n != math.MaxUint64 {
		t.Fatalf("Increment to 2^64-1 = %d, %v", n, err)
	}
	if _, err := s.Increment(ctx, "b", "max", 1); !isOther(err) {
		t.Fatalf("Increment past 2^64-1 = %v; want an OtherError", err)
	}
	if v, _, _ := s.Get(ctx, "b", "max"); string(v) != "18446744073709551615" {
		t.Fatalf("after overflow the counter reads %q", v)
	}
	// A deleted counter starts again from 0.
	_ = s.Delete(ctx, "b", "max")
	if n, err := s.Increment(ctx, "b", "max", 5); err != nil || n != 5 {
		t.Fatalf("Increment of a deleted counter = %d, %v; want 5", n, err)
	}
}

// Increments from several connections race on the revision; none may be lost.
func TestIncrementConcurrent(t *testing.T) {
	ns := startServer(t, t.TempDir())
	ctx := testCtx(t)
	const goroutines, each = 8, 50
	for _, tc := range []struct {
		name   string
		stores int // goroutines share stores round robin; one connection per store
	}{
		{"one store", 1},
		{"a store each", goroutines},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stores := make([]*Store, tc.stores)
			for i := range stores {
				stores[i] = newStore(t, connect(t, ns))
			}
			key := strings.ReplaceAll(tc.name, " ", "-")
			start := time.Now()
			var wg sync.WaitGroup
			for g := range goroutines {
				s := stores[g%len(stores)]
				wg.Go(func() {
					for range each {
						if _, err := s.Increment(ctx, "counters", key, 1); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			v, _, err := stores[0].Get(ctx, "counters", key)
			if err != nil || string(v) != strconv.Itoa(goroutines*each) {
				t.Fatalf("counter = %q, %v; want %d", v, err, goroutines*each)
			}
			var conflicts uint64
			for _, s := range stores {
				conflicts += s.conflicts.Load()
			}
			t.Logf("%d increments from %d goroutines over %d connections: %v, %d lost races retried",
				goroutines*each, goroutines, tc.stores, elapsed, conflicts)
		})
	}
}

// listAll follows cursors to the end and fails on a page larger than limit.
func listAll(t *testing.T, s *Store, bucket string, limit int) (keys []string, pages int) {
	t.Helper()
	ctx := testCtx(t)
	var cursor *uint64
	for {
		pages++
		if pages > 100000 {
			t.Fatal("list-keys did not end")
		}
		resp, err := s.ListKeys(ctx, bucket, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Keys) > limit {
			t.Fatalf("page of %d keys; the limit is %d", len(resp.Keys), limit)
		}
		keys = append(keys, resp.Keys...)
		if resp.Cursor == nil {
			return keys, pages
		}
		if cursor != nil && *resp.Cursor <= *cursor {
			t.Fatalf("cursor went from %d to %d", *cursor, *resp.Cursor)
		}
		cursor = resp.Cursor
	}
}

func TestListKeysPaging(t *testing.T) {
	s, _ := testStore(t, PageSize(3))
	ctx := testCtx(t)
	want := map[string]bool{}
	for i := range 14 {
		k := fmt.Sprintf("k.%02d", i)
		if err := s.Set(ctx, "b", k, []byte("v")); err != nil {
			t.Fatal(err)
		}
		want[k] = true
	}
	// Deleted keys leave markers the pages step over; an overwrite moves a key to the end.
	for _, k := range []string{"k.00", "k.04", "k.05", "k.13"} {
		if err := s.Delete(ctx, "b", k); err != nil {
			t.Fatal(err)
		}
		delete(want, k)
	}
	_ = s.Set(ctx, "b", "k.02", []byte("again"))
	_ = s.Delete(ctx, "b", "never-existed")

	got, pages := listAll(t, s, "b", 3)
	if len(got) != len(want) {
		t.Fatalf("listed %d keys %v; want %d", len(got), got, len(want))
	}
	seen := map[string]bool{}
	for _, k := range got {
		if seen[k] || !want[k] {
			t.Fatalf("key %q listed twice or not expected: %v", k, got)
		}
		seen[k] = true
	}
	if pages != 4 {
		t.Errorf("10 keys in pages of 3 took %d pages; want 4", pages)
	}

	// 9 keys in pages of 3: the third page is full and the last, so it has no cursor.
	s.opts.pageSize = 3
	for i := range 9 {
		_ = s.Set(ctx, "nine", strconv.Itoa(i), nil)
	}
	if _, pages := listAll(t, s, "nine", 3); pages != 3 {
		t.Errorf("9 keys in pages of 3 took %d pages; want 3", pages)
	}

	// A full page followed only by delete markers is the last page.
	for i := range 50 {
		k := strconv.Itoa(i)
		_ = s.Set(ctx, "tail", k, nil)
		if i >= 3 {
			_ = s.Delete(ctx, "tail", k)
		}
	}
	if resp, err := s.ListKeys(ctx, "tail", nil); err != nil || len(resp.Keys) != 3 || resp.Cursor != nil {
		t.Fatalf("ListKeys of 3 keys then markers = %+v, %v; want 3 keys and no cursor", resp, err)
	}

	// A cursor past the end gives an empty last page.
	end := uint64(math.MaxUint64)
	for _, c := range []*uint64{&end, func() *uint64 { v := uint64(1 << 40); return &v }()} {
		resp, err := s.ListKeys(ctx, "b", c)
		if err != nil || len(resp.Keys) != 0 || resp.Cursor != nil {
			t.Fatalf("ListKeys past the end = %+v, %v; want an empty last page", resp, err)
		}
	}
}

func TestListKeysBounds(t *testing.T) {
	ns := startServer(t, t.TempDir(), func(o *server.Options) { o.MaxPayload = 2 << 20 })
	s := newStore(t, connect(t, ns))
	ctx := testCtx(t)

	// Large values: a page stops once it has read scanBytes, with a cursor.
	big := bytes.Repeat([]byte("v"), 1<<20)
	for i := range 20 {
		if err := s.Set(ctx, "big", strconv.Itoa(i), big); err != nil {
			t.Fatal(err)
		}
	}
	got, pages := listAll(t, s, "big", DefaultPageSize)
	if len(got) != 20 || pages < 3 {
		t.Fatalf("20 values of 1 MiB: %d keys in %d pages; want 20 keys in at least 3 pages", len(got), pages)
	}

	// Long names: a page stays under pageKeyBytes of names.
	long := strings.Repeat("n", 3000)
	items := make([]keyvalue.KeyValue, 400)
	for i := range items {
		items[i] = keyvalue.KeyValue{Key: fmt.Sprintf("%s%03d", long, i)}
	}
	if err := s.SetMany(ctx, "long", items); err != nil {
		t.Fatal(err)
	}
	resp, err := s.ListKeys(ctx, "long", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Keys); n == 0 || n*3003 > pageKeyBytes || resp.Cursor == nil {
		t.Fatalf("first page of long names has %d keys, cursor %v", n, resp.Cursor)
	}
	if got, _ := listAll(t, s, "long", DefaultPageSize); len(got) != 400 {
		t.Fatalf("listed %d long keys; want 400", len(got))
	}
}

func TestListKeysSkipsForeignAndOldRevisions(t *testing.T) {
	s, js := testStore(t)
	ctx := testCtx(t)
	// A bucket made by someone else, keeping 5 revisions per key.
	kv, err := js.CreateKeyValue(ctx, natsjs.KeyValueConfig{Bucket: EncodeBucket("hist"), History: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_ = s.Set(ctx, "hist", "a", []byte(strconv.Itoa(i)))
		_ = s.Set(ctx, "hist", "b", []byte(strconv.Itoa(i)))
	}
	_ = s.Delete(ctx, "hist", "b")
	_ = s.Set(ctx, "hist", "c.d", nil)
	// Keys not in the canonical encoding were written by something else: left out.
	for _, k := range []string{"c=2Ed", "=ZZ", "=FF"} {
		if _, err := kv.Put(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := listAll(t, s, "hist", 2)
	if !slices.Equal(slices.Sorted(slices.Values(got)), []string{"a", "c.d"}) {
		t.Fatalf("listed %q; want a and c.d once each", got)
	}
}

func TestCreateBucketsOff(t *testing.T) {
	s, js := testStore(t, CreateBuckets(false))
	ctx := testCtx(t)
	calls := map[string]func(string) error{
		"Get":        func(b string) error { _, _, err := s.Get(ctx, b, "k"); return err },
		"Set":        func(b string) error { return s.Set(ctx, b, "k", []byte("v")) },
		"Delete":     func(b string) error { return s.Delete(ctx, b, "k") },
		"Exists":     func(b string) error { _, err := s.Exists(ctx, b, "k"); return err },
		"ListKeys":   func(b string) error { _, err := s.ListKeys(ctx, b, nil); return err },
		"Increment":  func(b string) error { _, err := s.Increment(ctx, b, "n", 1); return err },
		"GetMany":    func(b string) error { _, err := s.GetMany(ctx, b, []string{"k"}); return err },
		"SetMany":    func(b string) error { return s.SetMany(ctx, b, []keyvalue.KeyValue{{Key: "k"}}) },
		"DeleteMany": func(b string) error { return s.DeleteMany(ctx, b, []string{"k"}) },
	}
	if _, err := js.CreateKeyValue(ctx, natsjs.KeyValueConfig{Bucket: EncodeBucket("made by hand")}); err != nil {
		t.Fatal(err)
	}
	for name, call := range calls {
		if err := call("missing"); !errors.Is(err, keyvalue.ErrNoSuchStore) {
			t.Errorf("%s on a missing bucket = %v; want ErrNoSuchStore", name, err)
		}
		if err := call("made by hand"); err != nil {
			t.Errorf("%s on an existing bucket = %v", name, err)
		}
	}
	if _, err := js.KeyValue(ctx, EncodeBucket("missing")); !errors.Is(err, natsjs.ErrBucketNotFound) {
		t.Fatalf("bucket missing was created: %v", err)
	}
}

func TestReadsDoNotCreateBuckets(t *testing.T) {
	s, js := testStore(t)
	ctx := testCtx(t)
	if _, ok, err := s.Get(ctx, "nb", "k"); err != nil || ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	if ok, err := s.Exists(ctx, "nb", "k"); err != nil || ok {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	if resp, err := s.ListKeys(ctx, "nb", nil); err != nil || len(resp.Keys) != 0 || resp.Cursor != nil {
		t.Fatalf("ListKeys = %+v, %v", resp, err)
	}
	if got, err := s.GetMany(ctx, "nb", []string{"a", "b"}); err != nil || len(got) != 2 || got[0] != nil || got[1] != nil {
		t.Fatalf("GetMany = %v, %v", got, err)
	}
	if err := s.Delete(ctx, "nb", "k"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if err := s.DeleteMany(ctx, "nb", []string{"k"}); err != nil {
		t.Fatalf("DeleteMany = %v", err)
	}
	if _, err := js.KeyValue(ctx, EncodeBucket("nb")); !errors.Is(err, natsjs.ErrBucketNotFound) {
		t.Fatalf("reads created the bucket: %v", err)
	}
	if err := s.Set(ctx, "nb", "k", nil); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, EncodeBucket("nb"))
	if err != nil {
		t.Fatalf("a write did not create the bucket: %v", err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.History() != 1 || st.(*natsjs.KeyValueBucketStatus).StreamInfo().Config.Storage != natsjs.FileStorage {
		t.Fatalf("created bucket keeps %d revisions on %v; want 1 on file storage",
			st.History(), st.(*natsjs.KeyValueBucketStatus).StreamInfo().Config.Storage)
	}
}

func TestBucketDeletedBehindTheCache(t *testing.T) {
	s, js := testStore(t)
	ctx := testCtx(t)
	if err := s.Set(ctx, "b", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, EncodeBucket("b")); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(ctx, "b", "k"); err != nil || ok {
		t.Fatalf("Get after the bucket was deleted = %v, %v; want absent", ok, err)
	}
	if err := s.Set(ctx, "b", "k", []byte("again")); err != nil {
		t.Fatalf("Set after the bucket was deleted = %v", err)
	}
	if v, _, err := s.Get(ctx, "b", "k"); err != nil || string(v) != "again" {
		t.Fatalf("Get = %q, %v; want again", v, err)
	}
	// A write as the first call on the stale handle recreates the bucket too. (Another bucket:
	// nats-server may bring a stream's old messages back when a stream of the same name is
	// deleted twice within milliseconds and made again.)
	if err := s.Set(ctx, "b2", "k", nil); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, EncodeBucket("b2")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Increment(ctx, "b2", "n", 2); err != nil || n != 2 {
		t.Fatalf("Increment after the bucket was deleted = %d, %v", n, err)
	}
	if resp, err := s.ListKeys(ctx, "b2", nil); err != nil || !slices.Equal(resp.Keys, []string{"n"}) {
		t.Fatalf("ListKeys = %v, %v; want [n]", resp.Keys, err)
	}

	fixed := newStore(t, js, CreateBuckets(false))
	if err := fixed.Set(ctx, "b3", "k", nil); !errors.Is(err, keyvalue.ErrNoSuchStore) {
		t.Fatalf("Set in a missing bucket = %v; want ErrNoSuchStore", err)
	}
	if _, err := js.CreateKeyValue(ctx, natsjs.KeyValueConfig{Bucket: "b3"}); err != nil {
		t.Fatal(err)
	}
	if err := fixed.Set(ctx, "b3", "k", nil); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, "b3"); err != nil {
		t.Fatal(err)
	}
	if err := fixed.Set(ctx, "b3", "k", nil); !errors.Is(err, keyvalue.ErrNoSuchStore) {
		t.Fatalf("Set after the bucket was deleted, without auto-create = %v; want ErrNoSuchStore", err)
	}
	if _, err := fixed.ListKeys(ctx, "b3", nil); !errors.Is(err, keyvalue.ErrNoSuchStore) {
		t.Fatalf("ListKeys after the bucket was deleted, without auto-create = %v; want ErrNoSuchStore", err)
	}
}

func TestValueLimitOfTheBucket(t *testing.T) {
	s, js := testStore(t)
	ctx := testCtx(t)
	// A bucket made elsewhere with a smaller value limit.
	if _, err := js.CreateKeyValue(ctx, natsjs.KeyValueConfig{Bucket: "small", MaxValueSize: 100}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "small", "k", make([]byte, 101)); !isOther(err) || !strings.Contains(err.Error(), "100 bytes") {
		t.Errorf("Set above the bucket's value size = %v; want an OtherError naming it", err)
	}
}

func TestPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	ns := startServer(t, dir)
	s := newStore(t, connect(t, ns))
	for _, k := range specialNames {
		if err := s.Set(ctx, "ключ 🔑", k, []byte("v "+k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Increment(ctx, "ключ 🔑", "n", 7); err != nil {
		t.Fatal(err)
	}
	_ = s.Delete(ctx, "ключ 🔑", "a.b")
	ns.Shutdown()
	ns.WaitForShutdown()

	s2 := newStore(t, connect(t, startServer(t, dir)), CreateBuckets(false))
	for _, k := range specialNames {
		v, ok, err := s2.Get(ctx, "ключ 🔑", k)
		if k == "a.b" {
			if ok || err != nil {
				t.Errorf("deleted key came back: %q, %v", v, err)
			}
			continue
		}
		if err != nil || !ok || string(v) != "v "+k {
			t.Errorf("after restart Get(%q) = %q, %v, %v", k, v, ok, err)
		}
	}
	if n, err := s2.Increment(ctx, "ключ 🔑", "n", 1); err != nil || n != 8 {
		t.Errorf("after restart Increment = %d, %v; want 8", n, err)
	}
	if got, _ := listAll(t, s2, "ключ 🔑", DefaultPageSize); len(got) != len(specialNames) {
		t.Errorf("after restart listed %d keys; want %d", len(got), len(specialNames))
	}
}

func TestOptions(t *testing.T) {
	_, js := testStore(t)
	for _, o := range []Option{PageSize(0), Concurrency(0), Replicas(0), Replicas(6), Timeout(0)} {
		if _, err := New(js, o); err == nil {
			t.Error("New accepted an invalid option")
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	s := newStore(t, js, Storage(natsjs.MemoryStorage), Concurrency(1), Timeout(time.Second))
	ctx := testCtx(t)
	if err := s.SetMany(ctx, "mem", []keyvalue.KeyValue{{Key: "a"}, {Key: "b"}}); err != nil {
		t.Fatal(err)
	}
	kv, _ := js.KeyValue(ctx, "mem")
	st, _ := kv.Status(ctx)
	if st.(*natsjs.KeyValueBucketStatus).StreamInfo().Config.Storage != natsjs.MemoryStorage {
		t.Error("Storage(MemoryStorage) did not apply")
	}
}

// TestDeleteMarkersExpire: deleted keys leave markers that expire after DeleteMarkerTTL, so a
// bucket with many short-lived keys does not grow for ever; with 0 the markers stay.
func TestDeleteMarkersExpire(t *testing.T) {
	ctx := testCtx(t)
	_, js := testStore(t)
	s := newStore(t, js, DeleteMarkerTTL(time.Second), PageSize(7))
	var keys []string
	for i := range 30 {
		k := fmt.Sprintf("k%02d", i)
		keys = append(keys, k)
		if err := s.Set(ctx, "short", k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys[:10] {
		if err := s.Delete(ctx, "short", k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMany(ctx, "short", keys[10:20]); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys[:20] {
		if _, ok, err := s.Get(ctx, "short", k); ok || err != nil {
			t.Fatalf("Get(%s) after delete = %v, %v", k, ok, err)
		}
	}
	if got, _ := listAll(t, s, "short", 7); !slices.Equal(got, keys[20:]) {
		t.Fatalf("listed %q; want %q", got, keys[20:])
	}
	kv, err := js.KeyValue(ctx, "short")
	if err != nil {
		t.Fatal(err)
	}
	values := func() uint64 {
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Values()
	}
	// The markers expire on the server's clock; wait for it, bounded by the test's context.
	for values() != 10 {
		select {
		case <-ctx.Done():
			t.Fatalf("the bucket still holds %d messages; want the 10 live keys once markers expire", values())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if got, _ := listAll(t, s, "short", 7); !slices.Equal(got, keys[20:]) {
		t.Fatalf("after the markers expired, listed %q; want %q", got, keys[20:])
	}
	if err := s.Set(ctx, "short", "k00", []byte("again")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get(ctx, "short", "k00"); !ok || err != nil || string(v) != "again" {
		t.Fatalf("a key set again after its marker expired = %q, %v, %v", v, ok, err)
	}

	// With 0, a delete leaves its marker, as a plain JetStream KV delete does.
	keep := newStore(t, js, DeleteMarkerTTL(0))
	if err := keep.Set(ctx, "kept", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := keep.Delete(ctx, "kept", "k"); err != nil {
		t.Fatal(err)
	}
	if e, err := mustKV(t, js, "kept").History(ctx, "k"); err != nil || len(e) != 1 || e[0].Operation() != natsjs.KeyValueDelete {
		t.Fatalf("history after delete with markers kept = %v, %v; want one delete marker", e, err)
	}

	// A bucket that keeps history (made elsewhere) gets deletes, never a purge erasing it.
	if _, err := js.CreateKeyValue(ctx, natsjs.KeyValueConfig{Bucket: "history", History: 5, LimitMarkerTTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1", "2"} {
		if err := s.Set(ctx, "history", "k", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "history", "k"); err != nil {
		t.Fatal(err)
	}
	if e, err := mustKV(t, js, "history").History(ctx, "k"); err != nil || len(e) != 3 {
		t.Fatalf("history after delete = %d entries, %v; want the 2 values and a delete marker", len(e), err)
	}

	if _, err := New(js, DeleteMarkerTTL(500*time.Millisecond)); err == nil {
		t.Error("New accepted a delete marker TTL under a second")
	}
}

func mustKV(t *testing.T, js natsjs.JetStream, bucket string) natsjs.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(testCtx(t), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}
