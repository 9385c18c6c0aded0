module fruits.local/pause

go 1.22
