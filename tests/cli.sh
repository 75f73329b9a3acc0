echo cli tests pending
