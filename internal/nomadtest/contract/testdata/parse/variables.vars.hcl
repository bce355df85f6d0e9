tenant = "acme"
free = 1
