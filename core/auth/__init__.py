"""Who may do what: the policy table (``policy``), who is acting (``actors``) and the one check
that every mutating operation goes through (``guard``)."""
