tenant   = "globex"
replicas = "3"
enabled  = "true"
tags     = ["x", "y"]
limits   = { cpu = 250 }
db       = { host = "db.internal", port = 6432 }
untyped  = 7
free     = ["a", 1]
maybe    = "set"
unknown  = "ignored: the parse endpoint only warns about undeclared variables"
