"""The uploads bucket in Cloud Storage, as the bulk stages read it (`protocols.Uploads`)."""

from __future__ import annotations

from shared.platform import clients
from shared.platform.settings import get_settings
from shared.storage.protocols import UploadObject


class CloudUploads:
    """Objects of the `uploads_bucket` setting's bucket (google-cloud-storage `Blob`s)."""

    def get(self, name: str) -> UploadObject | None:
        blob: UploadObject | None = clients.storage().bucket(get_settings().uploads_bucket).get_blob(name)
        return blob
