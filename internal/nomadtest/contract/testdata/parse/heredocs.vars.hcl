tenant = "acme"
