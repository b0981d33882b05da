"""Deployment tooling: container image build, Kubernetes manifests (docs/deployment.md)."""
