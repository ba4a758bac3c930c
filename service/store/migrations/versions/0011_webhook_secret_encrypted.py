"""Webhook signing secrets encrypted at rest.

``webhooks.secret`` (the secret as the tenant gave it) becomes
``webhooks.secret_ciphertext``, the secret sealed with the installation's key
(``INTRORANK_WEBHOOK_SECRET_KEY``, see ``introrank.service.store.secret_box``).
Existing rows are sealed here with that key; when there are rows and no key,
the upgrade refuses with a message saying so, and nothing changes (the
migration runs in one transaction). ``downgrade`` opens them again with the key.

Revision ID: 0011_webhook_secret_encrypted
Revises: 0010_owner_incarnation
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_webhook_secret_encrypted"
down_revision: str | None = "0010_owner_incarnation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _box():  # noqa: ANN202 - a SecretBox, imported late: migrations load before the app
    from introrank.service.settings import get_settings
    from introrank.service.store.secret_box import SecretBox

    return SecretBox.from_settings(get_settings())


def _refuse(count: int) -> None:
    from introrank.service.store.secret_box import KEY_SETTING

    raise RuntimeError(f"migration 0011: {count} webhook secret(s) are stored in plaintext and must be encrypted, "
                       f"but {KEY_SETTING} is not set; set it (a Fernet key) and open the store again")


def upgrade() -> None:
    from introrank.service.store.secret_box import SecretKeyMissing

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, secret FROM webhooks")).all()
    box = None
    if rows:
        try:
            box = _box()
        except SecretKeyMissing:
            _refuse(len(rows))
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("secret_ciphertext", sa.String(1024), nullable=True))
    if box is not None:
        for row_id, secret in rows:
            bind.execute(sa.text("UPDATE webhooks SET secret_ciphertext = :sealed WHERE id = :id"),
                         {"sealed": box.seal(secret), "id": row_id})
    with op.batch_alter_table("webhooks") as batch:
        batch.alter_column("secret_ciphertext", existing_type=sa.String(1024), nullable=False)
        batch.drop_column("secret")


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, secret_ciphertext FROM webhooks")).all()
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("secret", sa.String(512), nullable=True))
    if rows:
        box = _box()
        for row_id, sealed in rows:
            bind.execute(sa.text("UPDATE webhooks SET secret = :secret WHERE id = :id"),
                         {"secret": box.open(sealed), "id": row_id})
    with op.batch_alter_table("webhooks") as batch:
        batch.alter_column("secret", existing_type=sa.String(512), nullable=False)
        batch.drop_column("secret_ciphertext")
