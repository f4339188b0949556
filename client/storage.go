package client

import (
	"context"
	"net/http"
	"net/url"

	"lodge/api"
)

func poolPath(name string) string { return "/1.0/storage-pools/" + url.PathEscape(name) }

// GetStoragePools lists the storage pools.
func (c *Client) GetStoragePools(ctx context.Context) ([]api.StoragePool, error) {
	var out []api.StoragePool
	_, err := c.get(ctx, "/1.0/storage-pools?recursion=1", &out)
	return out, err
}

// GetStoragePool returns one pool and its ETag.
func (c *Client) GetStoragePool(ctx context.Context, name string) (api.StoragePool, string, error) {
	var out api.StoragePool
	etag, err := c.get(ctx, poolPath(name), &out)
	return out, etag, err
}

// GetStoragePoolResources returns a pool's space and inode use.
func (c *Client) GetStoragePoolResources(ctx context.Context, name string) (api.ResourcesStoragePool, error) {
	var out api.ResourcesStoragePool
	_, err := c.get(ctx, poolPath(name)+"/resources", &out)
	return out, err
}

// CreateStoragePool creates a pool.
func (c *Client) CreateStoragePool(ctx context.Context, req api.StoragePoolsPost) error {
	return c.CreateStoragePoolOn(ctx, req, "")
}

// CreateStoragePoolOn, with a cluster member as target, defines the
// pool's part on that member, pending (LXD's ?target=); "" creates it.
func (c *Client) CreateStoragePoolOn(ctx context.Context, req api.StoragePoolsPost, target string) error {
	_, _, err := c.query(ctx, http.MethodPost, "/1.0/storage-pools"+targetQuery(target), req, nil, nil)
	return err
}

// GetStoragePoolOn is a cluster member's view of a pool (its own keys and
// state); "" is the cluster's.
func (c *Client) GetStoragePoolOn(ctx context.Context, name, target string) (api.StoragePool, string, error) {
	var out api.StoragePool
	etag, err := c.get(ctx, poolPath(name)+targetQuery(target), &out)
	return out, etag, err
}

// targetQuery is ?target=MEMBER, or nothing for "".
func targetQuery(target string) string {
	if target == "" {
		return ""
	}
	return "?target=" + url.QueryEscape(target)
}

// UpdateStoragePool patches a pool's description and config.
func (c *Client) UpdateStoragePool(ctx context.Context, name string, put api.StoragePoolPut) error {
	_, _, err := c.query(ctx, http.MethodPatch, poolPath(name), put, nil, nil)
	return err
}

// DeleteStoragePool deletes an unused pool and says what lodged left on
// disk (a pool it only forgot, directories holding what it has no record of).
func (c *Client) DeleteStoragePool(ctx context.Context, name string) (api.StoragePoolDeleted, error) {
	var out api.StoragePoolDeleted
	_, _, err := c.query(ctx, http.MethodDelete, poolPath(name), nil, &out, nil)
	return out, err
}

func snapPath(inst, snap string) string {
	return instPath(inst) + "/snapshots/" + url.PathEscape(snap)
}

// GetSnapshots lists an instance's snapshots.
func (c *Client) GetSnapshots(ctx context.Context, inst string) ([]api.InstanceSnapshot, error) {
	var out []api.InstanceSnapshot
	_, err := c.get(ctx, instPath(inst)+"/snapshots?recursion=1", &out)
	return out, err
}

// GetSnapshot returns one snapshot.
func (c *Client) GetSnapshot(ctx context.Context, inst, snap string) (api.InstanceSnapshot, error) {
	var out api.InstanceSnapshot
	_, err := c.get(ctx, snapPath(inst, snap), &out)
	return out, err
}

// CreateSnapshot starts snapshotting an instance.
func (c *Client) CreateSnapshot(ctx context.Context, inst string, req api.InstanceSnapshotsPost) (*Operation, error) {
	return c.async(ctx, http.MethodPost, instPath(inst)+"/snapshots", req, nil)
}

// RenameSnapshot renames a snapshot.
func (c *Client) RenameSnapshot(ctx context.Context, inst, snap, newName string) (*Operation, error) {
	return c.async(ctx, http.MethodPost, snapPath(inst, snap), api.InstanceSnapshotPost{Name: newName}, nil)
}

// DeleteSnapshot deletes a snapshot.
func (c *Client) DeleteSnapshot(ctx context.Context, inst, snap string) (*Operation, error) {
	return c.async(ctx, http.MethodDelete, snapPath(inst, snap), nil, nil)
}

// RestoreSnapshot restores an instance to a snapshot (PUT with restore, as LXD).
func (c *Client) RestoreSnapshot(ctx context.Context, inst, snap string) (*Operation, error) {
	return c.async(ctx, http.MethodPut, instPath(inst), map[string]any{"restore": inst + "/" + snap, "stateful": false}, nil)
}

// MoveInstance renames an instance or moves it to another pool.
func (c *Client) MoveInstance(ctx context.Context, name string, req api.InstancePost) (*Operation, error) {
	return c.async(ctx, http.MethodPost, instPath(name), req, nil)
}

// PublishImage makes an image from an instance or snapshot.
func (c *Client) PublishImage(ctx context.Context, req api.ImagesPublishPost) (*Operation, error) {
	return c.async(ctx, http.MethodPost, "/1.0/images", req, nil)
}

// GetStorageVolumes lists a pool's volumes.
func (c *Client) GetStorageVolumes(ctx context.Context, pool string) ([]api.StorageVolume, error) {
	var out []api.StorageVolume
	_, err := c.get(ctx, poolPath(pool)+"/volumes?recursion=1", &out)
	return out, err
}

// CreateStorageVolume creates a custom volume.
func (c *Client) CreateStorageVolume(ctx context.Context, pool string, req api.StorageVolumesPost) error {
	_, _, err := c.query(ctx, http.MethodPost, poolPath(pool)+"/volumes/custom", req, nil, nil)
	return err
}

// DeleteStorageVolume deletes an unused custom volume.
func (c *Client) DeleteStorageVolume(ctx context.Context, pool, name string) error {
	_, _, err := c.query(ctx, http.MethodDelete, poolPath(pool)+"/volumes/custom/"+url.PathEscape(name), nil, nil, nil)
	return err
}

// RebuildInstance gives a stopped instance a fresh rootfs from an image.
func (c *Client) RebuildInstance(ctx context.Context, name string, req api.InstanceRebuildPost) (*Operation, error) {
	return c.async(ctx, http.MethodPost, instPath(name)+"/rebuild", req, nil)
}
