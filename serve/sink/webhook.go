package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Webhook POSTs each alert, alone, to a URL (--webhook): body the alert's
// JSON, Content-Type application/json, headers Vigil-Alert-Id and
// Idempotency-Key set to the alert id. Any 2xx answer is a delivery;
// anything else, or no answer within the client's timeout, is retried by
// Run with exponential backoff, and the alert stays in the stream until
// delivered.
//
// Delivered ids are recorded in a key-value bucket (Delivered, with a
// time to live) after each 2xx and checked before each POST, so the
// alerts that come again after a crash are not POSTed again. A crash
// between a 2xx and that record repeats one POST: receivers that must
// never see one twice deduplicate on Idempotency-Key.
type Webhook struct {
	URL    string
	Client *http.Client
	// Delivered records the delivered ids (nil: none are recorded).
	Delivered jetstream.KeyValue
}

// DeliveredBucket creates (or opens) the bucket of delivered ids of a
// sink, keeping them for ttl.
func DeliveredBucket(ctx context.Context, js jetstream.JetStream, name string, ttl time.Duration, replicas int) (jetstream.KeyValue, error) {
	bucket := ConsumerName(name)
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Description: "vigil serve: alert ids delivered by sink " + name,
			TTL: ttl, History: 1, Storage: jetstream.FileStorage, Replicas: max(replicas, 1)})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, bucket)
		}
	}
	return kv, err
}

// Deliver POSTs the alerts not yet delivered, one at a time, in order.
func (h *Webhook) Deliver(ctx context.Context, alerts []Alert) error {
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	for _, a := range alerts {
		if h.Delivered != nil && a.ID != "" {
			_, err := h.Delivered.Get(ctx, a.ID)
			if err == nil {
				continue
			}
			if !errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("delivered ids: %w", err)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(a.Data))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Vigil-Alert-Id", a.ID)
		req.Header.Set("Idempotency-Key", a.ID)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("webhook %s: alert %s: %s", h.URL, a.ID, resp.Status)
		}
		if h.Delivered != nil && a.ID != "" {
			if _, err := h.Delivered.Put(ctx, a.ID, []byte("1")); err != nil {
				return fmt.Errorf("recording delivered alert %s: %w", a.ID, err)
			}
		}
	}
	return nil
}
