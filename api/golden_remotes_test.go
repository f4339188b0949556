package api

// The remotes' wire shapes, pinned like the others (added here so that
// golden_test.go's table stays untouched by parallel work).
func init() {
	goldens["images_post_remote"] = ImagesPost{ImagePut: ImagePut{AutoUpdate: true, Properties: map[string]string{}},
		Source:  &ImagesPostSource{Type: "image", Mode: "pull", Server: "https://images.linuxcontainers.org", Protocol: "simplestreams", Alias: "debian/12"},
		Aliases: []ImageAliasesPost{{Name: "deb"}}}
	goldens["certificate"] = Certificate{Name: "laptop", Type: "client", Projects: []string{},
		Certificate: "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n", Fingerprint: "f7dbb77d402427560b598f2e3e54477fc17c3e45c29282dc7204dd66f4e0c7aa"}
	goldens["certificates_post_join"] = CertificatesPost{Type: "client", Password: "eyJjbGllbnRfbmFtZSI6Imxh...", TrustToken: "d03944e6"}
	goldens["certificate_add_token"] = CertificateAddToken{ClientName: "laptop", Fingerprint: "f7dbb77d", Addresses: []string{"127.0.0.1:8443"},
		Secret: "d03944e6", ExpiresAt: t0}
}
