"""The data stage: import (source mappings and their rules), validation, synthetic generation
and shifts, data versions, and the ``loanctl data`` commands."""
