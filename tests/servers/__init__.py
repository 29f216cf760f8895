"""Real servers the tests start on 127.0.0.1: a local site and S3 (SeaweedFS or moto)."""
