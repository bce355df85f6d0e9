tenant = "acme"
domain = "example.com"
