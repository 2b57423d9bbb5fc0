"""Record families read beyond the service that writes them, with their upcasters.

A reader in another service decodes such a family into a view of its own (only the fields it
needs, e.g. the site allocator's view of ``transactions.events``), but it must upcast old records
the same way the owner does: so the :class:`Family`, which holds the upcasters, is defined once,
here, and both import it.
"""

from __future__ import annotations

from shared.events.versioned import Family

TRANSACTIONS = Family("transactions.events")
