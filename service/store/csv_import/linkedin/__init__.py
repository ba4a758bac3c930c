"""LinkedIn's "Get a copy of your data" archive -> the CSV import's owner, contact and event rows.

``introrank import --linkedin DIR --owner-id ME`` reads the files a person can
download from LinkedIn (a folder or the ZIP itself) and writes them through the
CSV import's own validation and transaction (``pipeline.write_validated``), so
an error names the archive's file, line and column, nothing is half-written, and
re-importing a later archive only adds what is new.

What each file becomes (SPEC event types; directions from the owner's side):

=================================  ===============================================
``Connections.csv``                a contact per row (name, ``Company`` -> company,
                                   ``Position`` -> title) and a ``touch`` at
                                   ``Connected On``: the tie's first event, ``in``
                                   when Invitations.csv shows the contact asked
``messages.csv``                   a ``message`` per message and counterpart,
                                   ``out`` when the owner sent it
``Invitations.csv``                a ``touch`` per invitation, by ``Direction``
``Endorsement_Given_Info.csv``     ``give`` ``out``
``Endorsement_Received_Info.csv``  ``touch`` ``in``
``Recommendations_Given.csv``      ``give`` ``out`` (matched to a connection by name)
``Recommendations_Received.csv``   ``touch`` ``in`` (matched the same way)
=================================  ===============================================

Only Connections.csv is required. Message contents and subjects, invitation
notes and recommendation texts are never read into a frame, so they can reach
neither the store nor a log. Modules: ``archive`` (files), ``profiles`` (URLs,
contact ids, the owner), ``cells`` (dates and texts), one module per file kind
(``connections``, ``messages``, ``invitations``, ``vouches``), ``source`` (what a
file gives), ``rows`` (validated rows, stable event ids), ``report``, ``importer``.
"""

from introrank.service.store.csv_import.linkedin.importer import import_linkedin
from introrank.service.store.csv_import.linkedin.report import LinkedInReport

__all__ = ["LinkedInReport", "import_linkedin"]
