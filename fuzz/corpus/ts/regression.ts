@targetLabel true
@data
1,2,3:0.5
3,2,1:1.5
